import { and, asc, eq, inArray, ne, or } from 'drizzle-orm';
import type { Tx } from '../db/client.ts';
import { devices, hosts, vms } from '../db/schema/index.ts';
import { inTransaction } from '../pubsub.ts';
import type { DeviceRow } from './device-store.ts';
import { HostOfflineError, IommuGroupInUseError, NotFoundError, VmBusyError, WrongHostError } from './errors.ts';
import { queueOperation } from './operations.ts';
import type { Services } from './services.ts';

// Lock order, in every transaction that locks more than one kind of row: host, then VMs, then
// devices (each in ID order). One order everywhere means two transactions never deadlock.
// Rows are locked FOR NO KEY UPDATE (keys never change), so inserting history rows that
// reference them (FOR KEY SHARE, taken by foreign keys) never waits on those locks. A
// provision takes its GPUs with SKIP LOCKED (placement.ts): it never waits on a device, so the
// order it takes them in (NUMA order) cannot close a cycle.

/**
 * The host of a device, locked FOR SHARE (a concurrent heartbeat sweep cannot mark it offline
 * under this change), in one statement that finds it through the device without a lock.
 */
async function lockOnlineHostOfDevice(tx: Tx, deviceId: string) {
  const [host] = await tx
    .select({ id: hosts.id, name: hosts.name, status: hosts.status })
    .from(hosts)
    .where(inArray(hosts.id, tx.select({ hostId: devices.hostId }).from(devices).where(eq(devices.id, deviceId))))
    .for('share');
  if (!host) throw new NotFoundError('Device', deviceId);
  if (host.status !== 'ONLINE') throw new HostOfflineError(host.id, host.name);
  return host;
}

async function lockDevice(tx: Tx, deviceId: string): Promise<DeviceRow> {
  const [device] = await tx.select().from(devices).where(eq(devices.id, deviceId)).for('no key update');
  if (!device) throw new NotFoundError('Device', deviceId);
  return device;
}

/**
 * A device with every PCI function sharing its IOMMU group, locked in one statement in ID
 * order, with the names of the VMs they hold (for refusal messages; VMs are read, not locked).
 * VFIO hands over whole groups, so they move together. The host is locked already, so no
 * inventory report can change the group meanwhile.
 */
async function lockIommuGroup(tx: Tx, hostId: string, deviceId: string) {
  // A USB device has no IOMMU group of its own; a device without one moves alone (NULL matches nothing).
  const group = tx.select({ iommuGroup: devices.iommuGroup }).from(devices).where(and(eq(devices.id, deviceId), ne(devices.kind, 'USB')));
  const rows = await tx
    .select({ device: devices, vmName: vms.name })
    .from(devices)
    .leftJoin(vms, eq(vms.id, devices.vmId))
    .where(and(eq(devices.hostId, hostId), or(eq(devices.id, deviceId), inArray(devices.iommuGroup, group))))
    .orderBy(asc(devices.id))
    .for('no key update', { of: devices });
  if (rows.length === 0) throw new NotFoundError('Device', deviceId);
  const vmNames = new Map<string, string>();
  for (const { device, vmName } of rows) if (device.vmId && vmName) vmNames.set(device.vmId, vmName);
  return { group: rows.map(({ device }) => device), vmNames };
}

/** Moves a device (with its IOMMU group) between the host OS and the pool. */
async function moveGroup(services: Services, deviceId: string, type: 'DETACH' | 'ATTACH') {
  return inTransaction(services.db, async (tx, changes) => {
    const host = await lockOnlineHostOfDevice(tx, deviceId);
    const { group, vmNames } = await lockIommuGroup(tx, host.id, deviceId);
    return queueOperation(tx, changes, services, { type, hostId: host.id, devices: group, vmNames });
  });
}

export const detachDevice = (services: Services, deviceId: string) => moveGroup(services, deviceId, 'DETACH');
export const attachDevice = (services: Services, deviceId: string) => moveGroup(services, deviceId, 'ATTACH');

/** Passes a pooled device through to a VM on the same host. */
export async function assignDevice(services: Services, deviceId: string, vmId: string) {
  return inTransaction(services.db, async (tx, changes) => {
    const host = await lockOnlineHostOfDevice(tx, deviceId);
    const [vm] = await tx.select().from(vms).where(eq(vms.id, vmId)).for('share');
    if (!vm || vm.status === 'DELETED') throw new NotFoundError('VM', vmId);
    // The whole group is locked: VFIO hands a group to one VM, so no function of it may be held by another.
    const { group, vmNames } = await lockIommuGroup(tx, host.id, deviceId);
    const device = group.find((member) => member.id === deviceId);
    if (!device) throw new NotFoundError('Device', deviceId);
    const elsewhere = group.find((member) => member.id !== deviceId && member.vmId !== null && member.vmId !== vmId);
    if (elsewhere) {
      throw new IommuGroupInUseError(
        elsewhere.id,
        `${device.kind} ${device.address} shares IOMMU group ${device.iommuGroup} with ${elsewhere.address}, which VM ${vmNames.get(elsewhere.vmId ?? '') ?? 'another VM'} holds; VFIO passes a whole group to one VM, so release it there first`,
      );
    }
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
    await lockOnlineHostOfDevice(tx, deviceId);
    const device = await lockDevice(tx, deviceId);
    return queueOperation(tx, changes, services, {
      type: 'RELEASE',
      hostId: device.hostId,
      vm: device.vmId ? { id: device.vmId, fromStatus: null } : null,
      devices: [device],
    });
  });
}
