// Each domain file registers its types and root fields on the builder; importing them is enough.
import './errors.ts';
import './hosts.ts';
import './devices.ts';
import './operations.ts';
import './vms.ts';
import './plans.ts';
import './pool.ts';
import './auth.ts';
import './audit.ts';
import './changes.ts';
import { builder } from './builder.ts';

/** A fresh schema object: each app wraps its own resolvers (audit trail), so they are not shared. */
export function buildSchema() {
  return builder.toSchema({ sortSchema: false });
}
