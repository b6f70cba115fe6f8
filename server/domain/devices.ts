import { and, asc, eq, inArray, or } from 'drizzle-orm';
import type { Tx } from '../db/client.ts';
import { devices, hosts, vms } from '../db/schema/index.ts';
import { inTransaction } from '../pubsub.ts';
import type { DeviceRow } from './device-store.ts';
import { HostOfflineError, NotFoundError, VmBusyError, WrongHostError } from './errors.ts';
import { queueOperation } from './operations.ts';
import type { Services } from './services.ts';

async function lockDevice(tx: Tx, deviceId: string): Promise<DeviceRow> {
  const [device] = await tx.select().from(devices).where(eq(devices.id, deviceId)).for('update');
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
 * A device with every PCI function sharing its IOMMU group, locked in ID order so two
 * concurrent group moves cannot deadlock. VFIO hands over whole groups, so they move together.
 */
async function lockIommuGroup(tx: Tx, device: DeviceRow): Promise<DeviceRow[]> {
  if (device.kind === 'USB' || device.iommuGroup === null) return [device];
  return tx
    .select()
    .from(devices)
    .where(and(eq(devices.hostId, device.hostId), or(eq(devices.id, device.id), eq(devices.iommuGroup, device.iommuGroup))))
    .orderBy(asc(devices.id))
    .for('update');
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
    const device = await lockDevice(tx, deviceId);
    await requireOnlineHost(tx, device.hostId);
    const group = await lockIommuGroup(tx, device);
    return queueOperation(tx, changes, services, {
      type,
      hostId: device.hostId,
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
    const device = await lockDevice(tx, deviceId);
    const [vm] = await tx.select().from(vms).where(eq(vms.id, vmId)).for('share');
    if (!vm || vm.status === 'DELETED') throw new NotFoundError('VM', vmId);
    const host = await requireOnlineHost(tx, device.hostId);
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
    const device = await lockDevice(tx, deviceId);
    await requireOnlineHost(tx, device.hostId);
    return queueOperation(tx, changes, services, {
      type: 'RELEASE',
      hostId: device.hostId,
      vm: device.vmId ? { id: device.vmId, fromStatus: null } : null,
      devices: [device],
    });
  });
}
