import { and, asc, eq, inArray, ne, or } from 'drizzle-orm';
import type { Tx } from '../db/client.ts';
import { devices, hosts, vms } from '../db/schema/index.ts';
import { inTransaction } from '../db/transaction.ts';
import type { DeviceRow } from './device-store.ts';
import { describe, planAction } from './device-actions.ts';
import { HostOfflineError, IommuGroupMembersError, NotFoundError, VmBusyError, WrongHostError } from './errors.ts';
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

/** The chosen device among its locked group, each with the name of the VM holding it. */
function membersOf(group: DeviceRow[], vmNames: Map<string, string>, deviceId: string) {
  const members = group.map((row) => ({ row, vmName: row.vmId ? (vmNames.get(row.vmId) ?? null) : null }));
  const device = members.find((member) => member.row.id === deviceId);
  if (!device) throw new NotFoundError('Device', deviceId);
  return { device, members };
}

/** Moves a device (with its IOMMU group) between the host OS and the pool. */
async function moveGroup(services: Services, deviceId: string, type: 'DETACH' | 'ATTACH') {
  return inTransaction(services.db, async (tx, changes) => {
    const host = await lockOnlineHostOfDevice(tx, deviceId);
    const { group, vmNames } = await lockIommuGroup(tx, host.id, deviceId);
    const { device, members } = membersOf(group, vmNames, deviceId);
    const plan = planAction(type, { device, group: members, host });
    if (plan.refusal) throw plan.refusal;
    return queueOperation(tx, changes, services, { type, hostId: host.id, devices: plan.devices.map((member) => member.row), vmNames });
  });
}

export const detachDevice = (services: Services, deviceId: string) => moveGroup(services, deviceId, 'DETACH');
export const attachDevice = (services: Services, deviceId: string) => moveGroup(services, deviceId, 'ATTACH');

/**
 * Passes a pooled device through to a VM on the same host, with the free functions of its IOMMU
 * group: VFIO hands a whole group to one VM. Without `withGroup` a device that has such
 * group-mates is refused, naming them, so nothing moves that the caller did not ask for.
 */
export async function assignDevice(services: Services, deviceId: string, vmId: string, withGroup = false) {
  return inTransaction(services.db, async (tx, changes) => {
    const host = await lockOnlineHostOfDevice(tx, deviceId);
    const [vm] = await tx.select().from(vms).where(eq(vms.id, vmId)).for('share');
    if (!vm || vm.status === 'DELETED') throw new NotFoundError('VM', vmId);
    // The whole group is locked: VFIO hands a group to one VM, so no function of it may be held by another.
    const { group, vmNames } = await lockIommuGroup(tx, host.id, deviceId);
    const { device, members } = membersOf(group, vmNames, deviceId);
    const plan = planAction('ASSIGN', { device, group: members, host, vmId });
    if (plan.refusal) throw plan.refusal;
    const others = plan.devices.filter((member) => member !== device).map((member) => member.row);
    if (!withGroup && others.length > 0) {
      throw new IommuGroupMembersError(
        device.row.id,
        others,
        `${describe(device)} shares IOMMU group ${device.row.iommuGroup} with ${others.map((other) => other.address).join(', ')}; VFIO passes a whole group to one VM, so assign them together (withGroup: true)`,
      );
    }
    if (vm.hostId !== device.row.hostId) {
      throw new WrongHostError(
        `${describe(device)} is on host ${host.name} but VM ${vm.name} runs on another host; a device can only be assigned to a VM on its own host`,
      );
    }
    if (vm.status !== 'RUNNING' && vm.status !== 'STOPPED') {
      throw new VmBusyError(vm.id, vm.status, `VM ${vm.name} is ${vm.status.toLowerCase()}; devices can be assigned to a running or stopped VM`);
    }
    return queueOperation(tx, changes, services, {
      type: 'ASSIGN',
      hostId: host.id,
      vm: { id: vm.id, fromStatus: null },
      devices: plan.devices.map((member) => member.row),
    });
  });
}

/** Takes a device back from its VM into the pool, with the functions of its IOMMU group that VM holds. */
export async function releaseDevice(services: Services, deviceId: string) {
  return inTransaction(services.db, async (tx, changes) => {
    const host = await lockOnlineHostOfDevice(tx, deviceId);
    const { group, vmNames } = await lockIommuGroup(tx, host.id, deviceId);
    const { device, members } = membersOf(group, vmNames, deviceId);
    const plan = planAction('RELEASE', { device, group: members, host });
    if (plan.refusal) throw plan.refusal;
    return queueOperation(tx, changes, services, {
      type: 'RELEASE',
      hostId: host.id,
      vm: device.row.vmId ? { id: device.row.vmId, fromStatus: null } : null,
      devices: plan.devices.map((member) => member.row),
      vmNames,
    });
  });
}
