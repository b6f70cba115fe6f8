import { eq } from 'drizzle-orm';
import type { Queryable } from '../db/client.ts';
import { hosts, vms } from '../db/schema/index.ts';
import { roleAtLeast, type Principal } from './auth.ts';
import { NotAuthorizedError, NotFoundError, VmBusyError } from './errors.ts';

/** The VM a console session is opened on, and where its host agent is. */
export interface ConsoleTarget {
  vmId: string;
  vmName: string;
  hostId: string;
  hostName: string;
}

/**
 * Whether `principal` may open the console of VM `vmId`: operators
 * only (a console is full control of the guest), on a VM that exists and is running. Throws
 * the typed error that says what is wrong.
 */
export async function consoleTarget(db: Queryable, principal: Principal, vmId: string, shownId = vmId): Promise<ConsoleTarget> {
  if (principal.kind !== 'user') throw new NotAuthorizedError('Only signed-in operators open VM consoles');
  if (!roleAtLeast(principal.role, 'OPERATOR')) {
    throw new NotAuthorizedError(`Opening a VM console needs the OPERATOR role; this credential has ${principal.role}`);
  }
  const [vm] = await db
    .select({ id: vms.id, name: vms.name, status: vms.status, hostId: vms.hostId, hostName: hosts.name })
    .from(vms)
    .innerJoin(hosts, eq(hosts.id, vms.hostId))
    .where(eq(vms.id, vmId));
  if (!vm || vm.status === 'DELETED') throw new NotFoundError('VM', shownId);
  if (vm.status !== 'RUNNING') throw new VmBusyError(vm.id, vm.status, `VM ${vm.name} is ${vm.status}; start it to use its console`);
  return { vmId: vm.id, vmName: vm.name, hostId: vm.hostId, hostName: vm.hostName };
}
