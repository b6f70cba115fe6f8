import { inArray, type WithSubquery } from 'drizzle-orm';
import type { Tx } from '../db/client.ts';
import { deviceEvents, devices } from '../db/schema/index.ts';
import type { ChangeSet } from '../db/transaction.ts';
import { holdsVm, type DeviceStatus } from './device-state.ts';

export type DeviceRow = typeof devices.$inferSelect;

export interface StatusChangeContext {
  actor: string;
  operationId?: string | null;
  note?: string | null;
}

/** One device moving to a status the state machine decided. */
export interface StatusMove {
  device: DeviceRow;
  next: DeviceStatus;
}

/**
 * The writes that record status moves, for the caller to run in one statement with its own
 * writes: one UPDATE per distinct (status, VM) pair (an operation moves its devices alike, so
 * one), as common table expressions, and the history rows to INSERT. The VM column follows
 * the status: kept (or set to `vmId`) while the status holds a VM, cleared otherwise. Also
 * returns the rows as they will be once written, in the order of `moves`, and queues the
 * change events.
 */
export function deviceStatusWrites(
  tx: Tx,
  changes: ChangeSet,
  moves: StatusMove[],
  context: StatusChangeContext & { vmId?: string | null },
): { updates: WithSubquery[]; history: (typeof deviceEvents.$inferInsert)[]; rows: DeviceRow[] } {
  const updatedAt = new Date();
  const planned = moves.map(({ device, next }) => ({ device, next, vmId: holdsVm(next) ? (context.vmId ?? device.vmId) : null }));
  const groups = new Map<string, { next: DeviceStatus; vmId: string | null; ids: string[] }>();
  for (const { device, next, vmId } of planned) {
    const key = `${next}/${vmId}`;
    const group = groups.get(key) ?? { next, vmId, ids: [] };
    group.ids.push(device.id);
    groups.set(key, group);
  }
  const updates: WithSubquery[] = [...groups.values()].map(({ next, vmId, ids }, index) =>
    tx.$with(`device_status_${index}`).as(tx.update(devices).set({ status: next, vmId, updatedAt }).where(inArray(devices.id, ids))),
  );
  const history = planned.map(({ device, next, vmId }) => ({
    deviceId: device.id,
    fromStatus: device.status,
    toStatus: next,
    vmId: vmId ?? device.vmId,
    operationId: context.operationId ?? null,
    actor: context.actor,
    note: context.note ?? null,
  }));
  for (const { device, vmId } of planned) {
    changes.device({
      id: device.id,
      hostId: device.hostId,
      vmIds: [...new Set([device.vmId, vmId].filter((id): id is string => id !== null))],
    });
  }
  return { updates, history, rows: planned.map(({ device, next, vmId }) => ({ ...device, status: next, vmId, updatedAt })) };
}

/** Writes statuses the state machine decided, with their history, in one statement (see deviceStatusWrites). */
export async function writeDeviceStatuses(
  tx: Tx,
  changes: ChangeSet,
  moves: StatusMove[],
  context: StatusChangeContext & { vmId?: string | null },
): Promise<DeviceRow[]> {
  if (moves.length === 0) return [];
  const { updates, history, rows } = deviceStatusWrites(tx, changes, moves, context);
  await tx.with(...updates).insert(deviceEvents).values(history);
  return rows;
}

/** Writes one status the state machine decided (see deviceStatusWrites). */
export async function writeDeviceStatus(
  tx: Tx,
  changes: ChangeSet,
  device: DeviceRow,
  next: DeviceStatus,
  context: StatusChangeContext & { vmId?: string | null },
): Promise<DeviceRow> {
  const [updated] = await writeDeviceStatuses(tx, changes, [{ device, next }], context);
  return updated ?? device;
}

/** Records the first status of a device the inventory has just revealed. */
export async function recordNewDevice(tx: Tx, changes: ChangeSet, device: DeviceRow, context: StatusChangeContext) {
  await tx.insert(deviceEvents).values({
    deviceId: device.id,
    fromStatus: null,
    toStatus: device.status,
    actor: context.actor,
    note: context.note ?? null,
  });
  changes.device({ id: device.id, hostId: device.hostId, vmIds: [] });
}
