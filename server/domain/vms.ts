import { randomUUID } from 'node:crypto';
import { and, asc, eq, inArray } from 'drizzle-orm';
import type { Queryable, Tx } from '../db/client.ts';
import { devices, hosts, vms } from '../db/schema/index.ts';
import { capacityRefusal, isUniqueViolation } from '../db/errors.ts';
import { inTransaction } from '../db/transaction.ts';
import { choosePlacement, type FreeGpu, type HostChoice, type Placement } from './allocation.ts';
import { hasCoresAndMemory, shortOf, type HostFree } from './capacity.ts';
import { HostOfflineError, NoCapacityError, NotFoundError, ValidationError, VmBusyError } from './errors.ts';
import { queueOperation } from './operations.ts';
import { headroom, planGpus, readBestCandidates, readCandidates, scopeFilter, takePlacement, type Candidates, type Scope } from './placement.ts';
import { findPlan, type PlanRow } from './plans.ts';
import type { Services } from './services.ts';
import { vmNameProblem } from '../../protocol/rules.ts';
import { beginVm, VM_TRANSITIONS, type VmStatus } from './vm-state.ts';

export type VmRow = typeof vms.$inferSelect;

export interface CapacityView {
  plan: PlanRow;
  placement: Placement | null;
  freeByHost: HostFree[];
}

/** The plan's matching free GPUs in the scope and the placement a provision would get now; reads, locks nothing. */
export async function planCapacity(db: Queryable, plan: PlanRow, scope: Scope): Promise<CapacityView> {
  if (plan.gpuCount === 0) {
    // The host a provision would choose: the same ranking, by what the hosts have left.
    const { choices, freeByHost } = await readCandidates(db, plan, scope);
    const [best] = choices;
    return { plan, placement: best ? { hostId: best.hostId, gpus: [], numaNodesSpanned: 0 } : null, freeByHost };
  }
  const onlineHosts = await db
    .select({ id: hosts.id, name: hosts.name, freeMemoryMb: headroom.memoryMb, freeCores: headroom.cores })
    .from(hosts)
    .where(and(scopeFilter(scope), eq(hosts.status, 'ONLINE')))
    .orderBy(asc(hosts.name));
  const free: FreeGpu[] = await db
    .select({ id: devices.id, hostId: devices.hostId, hostName: hosts.name, numaNode: devices.numaNode })
    .from(devices)
    .innerJoin(hosts, eq(hosts.id, devices.hostId))
    .where(and(scopeFilter(scope), eq(hosts.status, 'ONLINE'), ...planGpus(plan)))
    .orderBy(asc(devices.id));
  const freeByHost = onlineHosts.map((host) => {
    const room = { freeGpus: free.filter((gpu) => gpu.hostId === host.id).length, freeCores: host.freeCores, freeMemoryMb: host.freeMemoryMb };
    return { hostId: host.id, hostName: host.name, ...room, short: shortOf(plan, room) };
  });
  // A provision takes GPUs only on hosts with the plan's cores and memory left.
  const roomy = new Set(freeByHost.filter(hasCoresAndMemory).map((host) => host.hostId));
  return { plan, placement: choosePlacement(free.filter((gpu) => roomy.has(gpu.hostId)), plan.gpuCount), freeByHost };
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

/**
 * Creates a VM from a plan on a host with the plan's GPUs free, reserving them atomically.
 * Candidate hosts are read without a lock; the GPUs are then taken with SKIP LOCKED on the best
 * host that still has them (placement.ts), so concurrent provisions never wait on each other
 * and never get the same GPU: the row locks and the devices' single VM column guarantee it.
 */
export async function provisionVm(services: Services, input: { name: string; planId: string; scope: Scope }) {
  const nameRefusal = vmNameProblem(input.name);
  if (nameRefusal) throw new ValidationError('name', nameRefusal);
  try {
    return await inTransaction(services.db, async (tx, changes) => {
      const plan = await findPlan(tx, input.planId);
      const scope = input.scope;
      // In a cluster, the best few hosts for the GPUs; one host (or any, for no GPUs) from all of them.
      let candidates: Candidates | null = null;
      let choices: HostChoice[];
      if ('clusterId' in scope && plan.gpuCount > 0) {
        choices = await readBestCandidates(tx, plan, scope);
      } else {
        candidates = await readCandidates(tx, plan, scope);
        if (candidates.hosts.length === 0) await checkScope(tx, scope);
        const [only] = candidates.hosts;
        if ('hostId' in scope && only && !only.online) throw new HostOfflineError(only.hostId, only.hostName);
        choices = candidates.choices;
      }
      let placement = await takePlacement(tx, plan, choices);
      if (!placement && !candidates) {
        // Others took the best hosts' GPUs meanwhile: every host of the cluster, read only on this
        // path, gives the rest to try and what is free on each for the refusal.
        candidates = await readCandidates(tx, plan, scope);
        if (candidates.hosts.length === 0) await checkScope(tx, scope);
        const tried = new Set(choices.map((choice) => choice.hostId));
        placement = await takePlacement(tx, plan, candidates.choices.filter((choice) => !tried.has(choice.hostId)));
      }
      if (!placement) throw new NoCapacityError(plan, candidates?.freeByHost ?? []);

      // The VM is written in the operation's statement, so it is chosen whole here.
      const vm: VmRow = {
        id: randomUUID(),
        name: input.name,
        hostId: placement.hostId,
        planId: plan.id,
        cores: plan.cores,
        memoryMb: plan.memoryMb,
        diskGb: plan.diskGb,
        status: VM_TRANSITIONS.PROVISION.via,
        createdAt: new Date(),
        deletedAt: null,
      };
      changes.vm({ id: vm.id, hostId: vm.hostId });
      const queued = await queueOperation(tx, changes, services, {
        type: 'PROVISION',
        hostId: vm.hostId,
        vm: { id: vm.id, fromStatus: null },
        // The GPUs' audio functions (their IOMMU group-mates) go to the VM with them.
        devices: [...placement.gpus, ...placement.groupMates],
        alongside: [tx.$with('provisioned_vm').as(tx.insert(vms).values(vm))],
      }).catch((error: unknown) => {
        // The vms_fit_host trigger: a provision racing this one took the host's cores or memory first.
        const refusal = capacityRefusal(error);
        throw refusal ? new NoCapacityError(plan, [{ ...refusal, freeGpus: placement.gpus.length }]) : error;
      });
      return { vm, ...queued };
    });
  } catch (error) {
    if (isUniqueViolation(error, 'vms_live_name_unique')) {
      throw new ValidationError('name', `A VM named "${input.name}" already exists`);
    }
    throw error;
  }
}

/** Locks a VM after its host (the lock order in devices.ts), which must be online. */
async function lockVmOnOnlineHost(tx: Tx, vmId: string): Promise<VmRow> {
  // The host, found through the VM without a lock, locked FOR SHARE in the same statement.
  const [host] = await tx
    .select({ id: hosts.id, name: hosts.name, status: hosts.status })
    .from(hosts)
    .where(inArray(hosts.id, tx.select({ hostId: vms.hostId }).from(vms).where(eq(vms.id, vmId))))
    .for('share');
  if (!host) throw new NotFoundError('VM', vmId);
  if (host.status !== 'ONLINE') throw new HostOfflineError(host.id, host.name);
  const [vm] = await tx.select().from(vms).where(eq(vms.id, vmId)).for('no key update');
  if (!vm || vm.status === 'DELETED') throw new NotFoundError('VM', vmId);
  return vm;
}

/** A locked VM's new status, written in its operation's statement. */
const vmStatusWrite = (tx: Tx, vmId: string, status: VmStatus) => tx.$with('vm_status').as(tx.update(vms).set({ status }).where(eq(vms.id, vmId)));

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
    changes.vm({ id: vm.id, hostId: vm.hostId });
    const queued = await queueOperation(tx, changes, services, {
      type: 'TEARDOWN',
      hostId: vm.hostId,
      vm: { id: vm.id, fromStatus: vm.status },
      devices: held,
      alongside: [vmStatusWrite(tx, vm.id, next)],
    });
    return { vm: { ...vm, status: next }, ...queued };
  });
}

/** Powers a VM on or off; the agent's report settles the state. Devices stay with the VM. */
async function changePower(services: Services, vmId: string, action: 'START' | 'STOP') {
  return inTransaction(services.db, async (tx, changes) => {
    const vm = await lockVmOnOnlineHost(tx, vmId);
    const next = beginVm(action, vm);
    changes.vm({ id: vm.id, hostId: vm.hostId });
    const queued = await queueOperation(tx, changes, services, {
      type: action === 'START' ? 'START_VM' : 'STOP_VM',
      hostId: vm.hostId,
      vm: { id: vm.id, fromStatus: vm.status },
      devices: [],
      alongside: [vmStatusWrite(tx, vm.id, next)],
    });
    return { vm: { ...vm, status: next }, ...queued };
  });
}

export const startVm = (services: Services, vmId: string) => changePower(services, vmId, 'START');
export const stopVm = (services: Services, vmId: string) => changePower(services, vmId, 'STOP');
