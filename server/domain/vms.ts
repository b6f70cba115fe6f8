import { and, asc, count, eq, inArray, ne } from 'drizzle-orm';
import type { Queryable, Tx } from '../db/client.ts';
import { devices, hosts, servicePlans, vms } from '../db/schema/index.ts';
import { isUniqueViolation } from '../db/errors.ts';
import { inTransaction } from '../pubsub.ts';
import { choosePlacement, type FreeGpu, type Placement } from './allocation.ts';
import { NoCapacityError, NotFoundError, ValidationError, VmBusyError, type FreeGpus } from './errors.ts';
import { queueOperation } from './operations.ts';
import { requireOnlineHost } from './devices.ts';
import type { Services } from './services.ts';
import { beginVm } from './vm-state.ts';

export type VmRow = typeof vms.$inferSelect;
export type PlanRow = typeof servicePlans.$inferSelect;

const VM_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$/;

export function validateVmName(name: string) {
  if (!VM_NAME.test(name)) {
    throw new ValidationError(
      'name',
      `VM name "${name.slice(0, 70)}" is not valid: use 1 to 63 letters, digits, dots, dashes or underscores, starting with a letter or digit`,
    );
  }
  // virsh reads an all-digit name as a domain ID.
  if (/^[0-9]+$/.test(name)) throw new ValidationError('name', `VM name "${name}" needs at least one letter or symbol; libvirt reads digits alone as a domain ID`);
}

/** Where a VM may go: every online host of a cluster, or one named host. */
export type Scope = { clusterId: string } | { hostId: string };

export interface CapacityView {
  plan: PlanRow;
  placement: Placement | null;
  freeByHost: FreeGpus[];
}

/**
 * The plan's matching free GPUs in the scope and the placement it would get now. With `lock`,
 * the free GPUs are locked FOR UPDATE: a concurrent provision waits, then re-reads them, so
 * two provisions can never take the same GPU.
 */
export async function planCapacity(db: Queryable, plan: PlanRow, scope: Scope, lock: boolean): Promise<CapacityView> {
  const scopeFilter = 'hostId' in scope ? eq(hosts.id, scope.hostId) : eq(hosts.clusterId, scope.clusterId);
  const onlineHosts = await db
    .select({ id: hosts.id, name: hosts.name })
    .from(hosts)
    .where(and(scopeFilter, eq(hosts.status, 'ONLINE')))
    .orderBy(asc(hosts.name));
  if (plan.gpuCount === 0) {
    const host = onlineHosts[0];
    return {
      plan,
      placement: host ? { hostId: host.id, gpus: [], numaNodesSpanned: 0 } : null,
      freeByHost: onlineHosts.map((h) => ({ hostId: h.id, hostName: h.name, freeGpus: 0 })),
    };
  }

  const conditions = [scopeFilter, eq(hosts.status, 'ONLINE'), eq(devices.kind, 'GPU'), eq(devices.status, 'DETACHED')];
  if (plan.gpuVendorId) conditions.push(eq(devices.vendorId, plan.gpuVendorId));
  if (plan.gpuProductId) conditions.push(eq(devices.productId, plan.gpuProductId));
  const query = db
    .select({ id: devices.id, hostId: devices.hostId, hostName: hosts.name, numaNode: devices.numaNode })
    .from(devices)
    .innerJoin(hosts, eq(hosts.id, devices.hostId))
    .where(and(...conditions))
    .orderBy(asc(devices.id));
  const free: FreeGpu[] = lock ? await query.for('no key update', { of: devices }) : await query;

  const freeByHost = onlineHosts.map((host) => ({
    hostId: host.id,
    hostName: host.name,
    freeGpus: free.filter((gpu) => gpu.hostId === host.id).length,
  }));
  return { plan, placement: choosePlacement(free, plan.gpuCount), freeByHost };
}

export async function findPlan(db: Queryable, planId: string): Promise<PlanRow> {
  const [plan] = await db.select().from(servicePlans).where(eq(servicePlans.id, planId));
  if (!plan) throw new NotFoundError('ServicePlan', planId);
  return plan;
}

export async function checkScope(db: Queryable, scope: Scope) {
  if ('hostId' in scope) {
    const [host] = await db.select({ id: hosts.id }).from(hosts).where(eq(hosts.id, scope.hostId));
    if (!host) throw new NotFoundError('Host', scope.hostId);
  } else {
    const [cluster] = await db.query.clusters.findMany({ where: { id: scope.clusterId }, columns: { id: true }, limit: 1 });
    if (!cluster) throw new NotFoundError('Cluster', scope.clusterId);
  }
}

/** Creates a VM from a plan on a host with the plan's GPUs free, reserving them atomically. */
export async function provisionVm(services: Services, input: { name: string; planId: string; scope: Scope }) {
  validateVmName(input.name);
  try {
    return await inTransaction(services.db, async (tx, changes) => {
      const plan = await findPlan(tx, input.planId);
      await checkScope(tx, input.scope);
      if ('hostId' in input.scope) await requireOnlineHost(tx, input.scope.hostId);
      const capacity = await planCapacity(tx, plan, input.scope, true);
      if (!capacity.placement) throw new NoCapacityError(plan.gpuCount, capacity.freeByHost);

      const [vm] = await tx
        .insert(vms)
        .values({
          name: input.name,
          hostId: capacity.placement.hostId,
          planId: plan.id,
          cores: plan.cores,
          memoryMb: plan.memoryMb,
          diskGb: plan.diskGb,
          status: 'PROVISIONING',
        })
        .returning();
      const gpuRows = await lockedRows(tx, capacity.placement.gpus.map((gpu) => gpu.id));
      const queued = await queueOperation(tx, changes, services, {
        type: 'PROVISION',
        hostId: vm!.hostId,
        vm: { id: vm!.id, fromStatus: null },
        devices: gpuRows,
      });
      changes.vm({ id: vm!.id, hostId: vm!.hostId });
      return { vm: vm!, ...queued };
    });
  } catch (error) {
    if (isUniqueViolation(error, 'vms_live_name_unique')) {
      throw new ValidationError('name', `A VM named "${input.name}" already exists`);
    }
    throw error;
  }
}

async function lockedRows(tx: Tx, ids: string[]) {
  if (ids.length === 0) return [];
  return tx.select().from(devices).where(inArray(devices.id, ids)).orderBy(asc(devices.id)).for('no key update');
}

/** Locks a VM after its host (the lock order in devices.ts), which must be online. */
async function lockVmOnOnlineHost(tx: Tx, vmId: string): Promise<VmRow> {
  const [placed] = await tx.select({ hostId: vms.hostId }).from(vms).where(eq(vms.id, vmId));
  if (!placed) throw new NotFoundError('VM', vmId);
  await requireOnlineHost(tx, placed.hostId);
  const [vm] = await tx.select().from(vms).where(eq(vms.id, vmId)).for('no key update');
  if (!vm || vm.status === 'DELETED') throw new NotFoundError('VM', vmId);
  return vm;
}

/** Tears a VM down; every device it holds returns to the pool when the agent confirms. */
export async function deleteVm(services: Services, vmId: string) {
  return inTransaction(services.db, async (tx, changes) => {
    const vm = await lockVmOnOnlineHost(tx, vmId);
    const next = beginVm('TEARDOWN', vm);
    const held = await tx.select().from(devices).where(eq(devices.vmId, vm.id)).orderBy(asc(devices.id)).for('no key update');
    const busy = held.find((device) => device.status !== 'ASSIGNED');
    if (busy) {
      throw new VmBusyError(vm.id, vm.status, `VM ${vm.name} has ${busy.kind} ${busy.address} ${busy.status.toLowerCase()}; wait for that operation to finish`);
    }
    const [deleting] = await tx.update(vms).set({ status: next }).where(eq(vms.id, vm.id)).returning();
    const queued = await queueOperation(tx, changes, services, {
      type: 'TEARDOWN',
      hostId: vm.hostId,
      vm: { id: vm.id, fromStatus: vm.status },
      devices: held,
    });
    changes.vm({ id: vm.id, hostId: vm.hostId });
    return { vm: deleting!, ...queued };
  });
}

/** Powers a VM on or off; the agent's report settles the state. Devices stay with the VM. */
async function changePower(services: Services, vmId: string, action: 'START' | 'STOP') {
  return inTransaction(services.db, async (tx, changes) => {
    const vm = await lockVmOnOnlineHost(tx, vmId);
    const next = beginVm(action, vm);
    const [updated] = await tx.update(vms).set({ status: next }).where(eq(vms.id, vm.id)).returning();
    const queued = await queueOperation(tx, changes, services, {
      type: action === 'START' ? 'START_VM' : 'STOP_VM',
      hostId: vm.hostId,
      vm: { id: vm.id, fromStatus: vm.status },
      devices: [],
    });
    changes.vm({ id: vm.id, hostId: vm.hostId });
    return { vm: updated!, ...queued };
  });
}

export const startVm = (services: Services, vmId: string) => changePower(services, vmId, 'START');
export const stopVm = (services: Services, vmId: string) => changePower(services, vmId, 'STOP');

/** How many live VMs use a plan. */
export async function countVmsOfPlan(db: Queryable, planId: string) {
  const [row] = await db
    .select({ n: count() })
    .from(vms)
    .where(and(eq(vms.planId, planId), ne(vms.status, 'DELETED')));
  return row?.n ?? 0;
}
