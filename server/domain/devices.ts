import { and, asc, eq, inArray, or } from 'drizzle-orm';
import type { Tx } from '../db/client.ts';
import { devices, hosts, vms } from '../db/schema/index.ts';
import { inTransaction } from '../pubsub.ts';
import type { DeviceRow } from './device-store.ts';
import { HostOfflineError, NotFoundError, VmBusyError, WrongHostError } from './errors.ts';
import { queueOperation } from './operations.ts';
import type { Services } from './services.ts';

// Lock order, in every transaction that locks more than one kind of row: host, then VMs, then
// devices (each in ID order). One order everywhere means two transactions never deadlock.
// Rows are locked FOR NO KEY UPDATE (keys never change), so inserting history rows that
// reference them (FOR KEY SHARE, taken by foreign keys) never waits on those locks.

/** The device's host, read without a lock, so the host can be locked first. */
async function hostOfDevice(tx: Tx, deviceId: string): Promise<string> {
  const [device] = await tx.select({ hostId: devices.hostId }).from(devices).where(eq(devices.id, deviceId));
  if (!device) throw new NotFoundError('Device', deviceId);
  return device.hostId;
}

async function lockDevice(tx: Tx, deviceId: string): Promise<DeviceRow> {
  const [device] = await tx.select().from(devices).where(eq(devices.id, deviceId)).for('no key update');
  if (!device) throw new NotFoundError('Device', deviceId);
  return device;
}

export async function requireOnlineHost(tx: Tx, hostId: string) {
  // FOR SHARE: a concurrent heartbeat sweep cannot mark the host offline under this change.
  const [host] = await tx.select().from(hosts).where(eq(hosts.id, hostId)).for('share');
  if (!host) throw new NotFoundError('Host', hostId);
  if (host.status !== 'ONLINE') throw new HostOfflineError(host.id, host.name);
  return host;
}

/**
 * A device with every PCI function sharing its IOMMU group, locked in one statement in ID
 * order. VFIO hands over whole groups, so they move together. The host is locked already, so
 * no inventory report can change the group meanwhile.
 */
async function lockIommuGroup(tx: Tx, hostId: string, deviceId: string): Promise<DeviceRow[]> {
  const [device] = await tx.select({ kind: devices.kind, iommuGroup: devices.iommuGroup }).from(devices).where(eq(devices.id, deviceId));
  if (!device) throw new NotFoundError('Device', deviceId);
  const sameGroup = device.kind !== 'USB' && device.iommuGroup !== null ? eq(devices.iommuGroup, device.iommuGroup) : undefined;
  return tx
    .select()
    .from(devices)
    .where(and(eq(devices.hostId, hostId), or(eq(devices.id, deviceId), sameGroup)))
    .orderBy(asc(devices.id))
    .for('no key update');
}

async function vmNamesOf(tx: Tx, group: DeviceRow[]) {
  const ids = group.map((device) => device.vmId).filter((id): id is string => id !== null);
  if (ids.length === 0) return new Map<string, string>();
  const rows = await tx.select({ id: vms.id, name: vms.name }).from(vms).where(inArray(vms.id, ids));
  return new Map(rows.map((vm) => [vm.id, vm.name]));
}

/** Moves a device (with its IOMMU group) between the host OS and the pool. */
async function moveGroup(services: Services, deviceId: string, type: 'DETACH' | 'ATTACH') {
  return inTransaction(services.db, async (tx, changes) => {
    const hostId = await hostOfDevice(tx, deviceId);
    await requireOnlineHost(tx, hostId);
    const group = await lockIommuGroup(tx, hostId, deviceId);
    return queueOperation(tx, changes, services, {
      type,
      hostId,
      devices: group,
      vmNames: await vmNamesOf(tx, group),
    });
  });
}

export const detachDevice = (services: Services, deviceId: string) => moveGroup(services, deviceId, 'DETACH');
export const attachDevice = (services: Services, deviceId: string) => moveGroup(services, deviceId, 'ATTACH');

/** Passes a pooled device through to a VM on the same host. */
export async function assignDevice(services: Services, deviceId: string, vmId: string) {
  return inTransaction(services.db, async (tx, changes) => {
    const host = await requireOnlineHost(tx, await hostOfDevice(tx, deviceId));
    const [vm] = await tx.select().from(vms).where(eq(vms.id, vmId)).for('share');
    if (!vm || vm.status === 'DELETED') throw new NotFoundError('VM', vmId);
    const device = await lockDevice(tx, deviceId);
    if (vm.hostId !== device.hostId) {
      throw new WrongHostError(
        `${device.kind} ${device.address} is on host ${host.name} but VM ${vm.name} runs on another host; a device can only be assigned to a VM on its own host`,
      );
    }
    if (vm.status !== 'RUNNING' && vm.status !== 'STOPPED') {
      throw new VmBusyError(vm.id, vm.status, `VM ${vm.name} is ${vm.status.toLowerCase()}; devices can be assigned to a running or stopped VM`);
    }
    return queueOperation(tx, changes, services, {
      type: 'ASSIGN',
      hostId: device.hostId,
      vm: { id: vm.id, fromStatus: null },
      devices: [device],
    });
  });
}

/** Takes a device back from its VM into the pool. */
export async function releaseDevice(services: Services, deviceId: string) {
  return inTransaction(services.db, async (tx, changes) => {
    await requireOnlineHost(tx, await hostOfDevice(tx, deviceId));
    const device = await lockDevice(tx, deviceId);
    return queueOperation(tx, changes, services, {
      type: 'RELEASE',
      hostId: device.hostId,
      vm: device.vmId ? { id: device.vmId, fromStatus: null } : null,
      devices: [device],
    });
  });
}
