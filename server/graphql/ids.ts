import { decodeGlobalID } from '@pothos/plugin-relay';
import { NotFoundError } from '../domain/errors.ts';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/**
 * The database ID inside a global ID of the expected type. A malformed ID, or the ID of
 * another type (a VM's ID where a device's was expected), is a NotFoundError, never a crash.
 */
export function idOf(typename: string, globalId: string): string {
  let decoded: { typename: string; id: string } | null = null;
  try {
    decoded = globalId.length <= 200 ? decodeGlobalID(globalId) : null;
  } catch {
    decoded = null;
  }
  if (!decoded || decoded.typename !== typename || !UUID.test(decoded.id)) {
    throw new NotFoundError(typename, globalId.slice(0, 200));
  }
  return decoded.id.toLowerCase();
}
