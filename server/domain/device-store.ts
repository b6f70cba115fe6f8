import { eq } from 'drizzle-orm';
import type { Tx } from '../db/client.ts';
import { deviceEvents, devices } from '../db/schema/index.ts';
import type { ChangeSet } from '../pubsub.ts';
import { holdsVm, type DeviceStatus } from './device-state.ts';

export type DeviceRow = typeof devices.$inferSelect;

export interface StatusChangeContext {
  actor: string;
  operationId?: string | null;
  note?: string | null;
}

/**
 * Writes a status the state machine decided, with its history row and change event. The VM
 * column follows the status: kept (or set to `vmId`) while the status holds a VM, cleared otherwise.
 */
export async function writeDeviceStatus(
  tx: Tx,
  changes: ChangeSet,
  device: DeviceRow,
  next: DeviceStatus,
  context: StatusChangeContext & { vmId?: string | null },
): Promise<DeviceRow> {
  const vmId = holdsVm(next) ? (context.vmId ?? device.vmId) : null;
  const [updated] = await tx
    .update(devices)
    .set({ status: next, vmId, updatedAt: new Date() })
    .where(eq(devices.id, device.id))
    .returning();
  await tx.insert(deviceEvents).values({
    deviceId: device.id,
    fromStatus: device.status,
    toStatus: next,
    vmId: vmId ?? device.vmId,
    operationId: context.operationId ?? null,
    actor: context.actor,
    note: context.note ?? null,
  });
  changes.device({
    id: device.id,
    hostId: device.hostId,
    vmIds: [...new Set([device.vmId, vmId].filter((id): id is string => id !== null))],
  });
  return updated!;
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
