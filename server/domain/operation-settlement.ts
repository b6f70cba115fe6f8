import { asc, eq, type WithSubquery } from 'drizzle-orm';
import type { Tx } from '../db/client.ts';
import { deviceEvents, devices, operationDevices, operations, vms } from '../db/schema/index.ts';
import type { ChangeSet } from '../db/transaction.ts';
import { VFIO_DRIVER } from '../../protocol/rules.ts';
import { ACTION_OF_OPERATION, finish, finishLate, observe, type DeviceStatus } from './device-state.ts';
import { deviceStatusWrites, type StatusMove } from './device-store.ts';
import { OperationFinishedError, ValidationError } from './errors.ts';
import { finishVm, finishVmLate, VM_ACTION_OF_OPERATION } from './vm-state.ts';

// How an operation ends, whoever ends it: the agent's report (operations.ts) or the sweep's timeout.

type OperationRow = typeof operations.$inferSelect;

/** One device an operation moved, as the agent sees it once the operation has ended. */
export interface ObservedDevice {
  address: string;
  /** The kernel driver bound now; null when unbound. */
  driver: string | null;
  /** Whether the device is still in the host. */
  present: boolean;
}

export interface Outcome {
  succeeded: boolean;
  error?: string | null;
  /** What the agent now sees of the operation's devices, so no inventory report needs to follow. */
  devices?: ObservedDevice[] | null;
}

export function validateObserved(observed: ObservedDevice[]) {
  const addresses = new Set<string>();
  for (const device of observed) {
    if (addresses.has(device.address)) throw new ValidationError('devices.address', `Device ${device.address.slice(0, 70)} is observed twice`);
    addresses.add(device.address);
    if (device.driver !== null && device.driver.length > 256) throw new ValidationError('devices.driver', `Device ${device.address.slice(0, 70)} has a driver name longer than 256 characters`);
  }
}

/**
 * How an operation ends: its agent reports it, the sweep times it out, or its agent reports a
 * success after the sweep had timed it out (late: applied only from where the timeout left it).
 */
export type Ending = 'reported' | 'timedOut' | 'late';

/**
 * Ends an operation: completes or reverts each device through the state machine, settles the
 * VM, and records the result. Runs inside the caller's transaction with the operation locked.
 */
export async function settleOperation(tx: Tx, changes: ChangeSet, actor: string, operation: OperationRow, outcome: Outcome, ending: Ending) {
  const late = ending === 'late';
  const contradicted = () => new OperationFinishedError(operation.id, operation.status);
  // The VM's and the devices' new statuses are written in the statement that ends the operation.
  const writes: WithSubquery[] = [];
  // VM before devices: the lock order of devices.ts.
  const vmAction = VM_ACTION_OF_OPERATION[operation.type];
  if (vmAction && operation.vmId) {
    const [vm] = await tx.select().from(vms).where(eq(vms.id, operation.vmId)).for('no key update');
    const next = vm && (late ? finishVmLate(vmAction, vm.status, operation.vmFromStatus) : finishVm(vmAction, vm.status, operation.vmFromStatus, outcome.succeeded));
    if (late && !next) throw contradicted();
    if (vm && next) {
      const settled = tx.update(vms).set({ status: next, deletedAt: next === 'DELETED' ? new Date() : null }).where(eq(vms.id, vm.id));
      writes.push(tx.$with('vm_settled').as(settled));
      changes.vm({ id: vm.id, hostId: vm.hostId });
    }
  }

  const action = ACTION_OF_OPERATION[operation.type];
  if (action) {
    const moves = await tx
      .select({ device: devices, fromStatus: operationDevices.fromStatus })
      .from(operationDevices)
      .innerJoin(devices, eq(devices.id, operationDevices.deviceId))
      .where(eq(operationDevices.operationId, operation.id))
      .orderBy(asc(devices.id))
      .for('no key update', { of: devices });
    const observed = new Map((outcome.devices ?? []).map((seen) => [seen.address, seen]));
    const statusMoves: StatusMove[] = [];
    for (const { device, fromStatus } of moves) {
      const seen = observed.get(device.address);
      observed.delete(device.address);
      const lateFinish = late ? finishLate(action, device.status, fromStatus as DeviceStatus) : null;
      if (late && !lateFinish) throw contradicted();
      const finished = lateFinish ?? finish(action, device.status, fromStatus as DeviceStatus, outcome.succeeded) ?? device.status;
      // What the agent sees now wins over what the operation meant to do, as in an inventory report.
      const next = seen
        ? (observe(finished, { present: seen.present, boundToVfio: seen.driver === VFIO_DRIVER, driverIsMeaningful: device.kind !== 'USB' }) ?? finished)
        : finished;
      // A new driver is rare (an outcome that disagrees with the operation): written on its own.
      const driverChanged = seen !== undefined && seen.present && seen.driver !== device.driver;
      const current = driverChanged
        ? (await tx.update(devices).set({ driver: seen.driver, updatedAt: new Date() }).where(eq(devices.id, device.id)).returning())[0]!
        : device;
      if (next !== device.status) statusMoves.push({ device: current, next });
      else if (driverChanged) changes.device({ id: device.id, hostId: device.hostId, vmIds: device.vmId ? [device.vmId] : [] });
    }
    if (observed.size > 0) {
      const [address] = observed.keys();
      throw new ValidationError('devices.address', `Device ${address!.slice(0, 70)} is not one this operation moved`);
    }
    if (statusMoves.length > 0) {
      const { updates, history } = deviceStatusWrites(tx, changes, statusMoves, {
        actor,
        operationId: operation.id,
        // The timeout cleared the VM of a device it put back in the pool; a late ASSIGN names it again.
        ...(late ? { vmId: operation.vmId } : {}),
        note: late ? 'late success from the agent, applied: nothing had moved the device since the timeout' : outcome.succeeded ? null : outcome.error ?? 'operation failed',
      });
      writes.push(...updates, tx.$with('device_history').as(tx.insert(deviceEvents).values(history)));
    }
  }

  const status = outcome.succeeded ? 'SUCCEEDED' : 'FAILED';
  changes.operation({ id: operation.id, hostId: operation.hostId, vmId: operation.vmId, status });
  writes.push(...changes.loggedWith(tx));
  const [finished] = await tx
    .with(...writes)
    .update(operations)
    .set({
      status,
      error: outcome.succeeded ? null : outcome.error?.slice(0, 4000) || 'operation failed',
      finishedAt: new Date(),
      // An agent that reports without having said it started did start; a timeout does not say so.
      startedAt: operation.startedAt ?? (ending === 'timedOut' ? null : new Date()),
    })
    .where(eq(operations.id, operation.id))
    .returning();
  return finished!;
}
