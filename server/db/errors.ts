import { isCapacityResource, type HostFree } from '../domain/capacity.ts';

type DriverError = { code?: string; constraint_name?: string; constraint?: string; detail?: unknown };

/** The driver error drizzle wraps, or the error itself. */
function driverError(error: unknown): DriverError | undefined {
  return ((error as { cause?: unknown })?.cause ?? error) as DriverError | undefined;
}

/** A deadlock or serialization failure: Postgres rolled the transaction back, and running it again is safe. */
export function isRetryableConflict(error: unknown): boolean {
  const code = driverError(error)?.code;
  return code === '40P01' || code === '40001';
}

/** True when `error` (or the driver error drizzle wraps) is a unique violation, of `constraint` if named. */
export function isUniqueViolation(error: unknown, constraint?: string): boolean {
  const cause = driverError(error);
  if (cause?.code !== '23505') return false;
  return constraint === undefined || (cause.constraint_name ?? cause.constraint) === constraint;
}

/** postgres.js's own codes for a connection it lost or could not open. */
const CONNECTION_LOST = new Set(['ECONNREFUSED', 'ECONNRESET', 'EPIPE', 'ETIMEDOUT', 'EHOSTUNREACH', 'CONNECT_TIMEOUT', 'CONNECTION_CLOSED', 'CONNECTION_DESTROYED', 'CONNECTION_ENDED']);

/**
 * True when `error` (or any error it wraps) says the database is out of reach rather than that
 * the statement was wrong: a connection refused, lost or timed out, a server shutting down or
 * still starting (57P01-57P03), a connection exception (class 08).
 */
export function isDatabaseUnavailable(error: unknown): boolean {
  for (let cause = error; cause instanceof Error; cause = cause.cause) {
    const code = 'code' in cause && typeof cause.code === 'string' ? cause.code : null;
    if (code && (CONNECTION_LOST.has(code) || /^57P0[123]$/.test(code) || code.startsWith('08'))) return true;
  }
  return false;
}

/** The SQLSTATE the operations_admit trigger refuses a host's next operation with. */
const HOST_BUSY = 'PT429';

/** What the admission trigger said when it refused an operation (its detail), or null for any other error. */
export function admissionRefusal(error: unknown): { hostId: string; queued: number; limit: number } | null {
  const cause = driverError(error);
  if (cause?.code !== HOST_BUSY || typeof cause.detail !== 'string') return null;
  const detail: unknown = JSON.parse(cause.detail);
  if (!detail || typeof detail !== 'object' || !('host' in detail) || !('queued' in detail) || !('limit' in detail)) return null;
  const { host, queued, limit } = detail;
  return typeof host === 'string' && typeof queued === 'number' && typeof limit === 'number' ? { hostId: host, queued, limit } : null;
}

/** The SQLSTATE the vms_fit_host trigger refuses a VM its host cannot hold with. */
const HOST_FULL = 'PT507';

/** What the vms_fit_host trigger said when it refused a VM (its detail), without the GPUs it does not count; null for any other error. */
export function capacityRefusal(error: unknown): Omit<HostFree, 'freeGpus'> | null {
  const cause = driverError(error);
  if (cause?.code !== HOST_FULL || typeof cause.detail !== 'string') return null;
  const detail: unknown = JSON.parse(cause.detail);
  if (!detail || typeof detail !== 'object' || !('host' in detail) || !('hostName' in detail) || !('short' in detail)) return null;
  const { host, hostName, short } = detail;
  const count = (value: unknown) => (typeof value === 'number' ? value : null);
  if (typeof host !== 'string' || typeof hostName !== 'string' || !Array.isArray(short)) return null;
  return {
    hostId: host,
    hostName,
    short: short.filter(isCapacityResource),
    freeCores: 'freeCores' in detail ? count(detail.freeCores) : null,
    freeMemoryMb: 'freeMemoryMb' in detail ? count(detail.freeMemoryMb) : null,
  };
}
