import { and, asc, eq, ne } from 'drizzle-orm';
import type { Tx } from '../db/client.ts';
import { ANALYZE_AFTER_NEW_DEVICES, refreshPlannerStatistics } from '../db/planner-statistics.ts';
import { devices, hosts, vms } from '../db/schema/index.ts';
import { inTransaction, type ChangeSet } from '../db/transaction.ts';
import { observe, observeAssignment } from './device-state.ts';
import { recordNewDevice, writeDeviceStatus, type DeviceRow, type StatusChangeContext } from './device-store.ts';
import { NotFoundError } from './errors.ts';
import { validateReport, type HostFactsInput, type ReportedDevice, type ReportedVm } from './inventory.ts';
import type { Services } from './services.ts';
import { observeVm } from './vm-state.ts';
import { VFIO_DRIVER } from '../../protocol/rules.ts';

/**
 * Reconciles a full inventory snapshot with what the server believed. A device is recognised
 * by its serial first (it keeps its identity when moved to another slot), then by address.
 * New devices appear ATTACHED, or DETACHED when already on vfio-pci; vanished ones become
 * MISSING, never deleted; the state machine decides every status from what the agent saw.
 * With `vms` (the host's domains), assignments and power states follow the hypervisor too.
 * Only what changed is written and announced: an unchanged report writes nothing.
 */
export async function reportInventory(
  services: Services,
  hostId: string,
  facts: HostFactsInput,
  reported: ReportedDevice[],
  reportedVms: ReportedVm[] | null = null,
) {
  validateReport(facts, reported, reportedVms);
  let newDevices = 0;
  const reportedHost = await inTransaction(services.db, async (tx, changes) => {
    const [before] = await tx.select().from(hosts).where(eq(hosts.id, hostId)).for('no key update');
    if (!before) throw new NotFoundError('Host', hostId);
    // Only a real change is written and announced; last_seen_at alone goes with the heartbeats.
    let host = before;
    if (before.status !== 'ONLINE' || (Object.keys(facts) as (keyof HostFactsInput)[]).some((key) => before[key] !== facts[key])) {
      const [updated] = await tx
        .update(hosts)
        .set({ ...facts, status: 'ONLINE', lastSeenAt: new Date() })
        .where(eq(hosts.id, hostId))
        .returning();
      host = updated!;
      changes.host({ id: hostId });
    }
    // Host, then VMs, then devices: the lock order of devices.ts.
    const liveVms = reportedVms ? await lockLiveVms(tx, hostId) : [];

    const known = await tx.select().from(devices).where(eq(devices.hostId, hostId)).orderBy(asc(devices.id)).for('no key update');
    const bySerial = new Map(known.filter((d) => d.serial).map((d) => [`${d.kind}/${d.serial}`, d]));
    const byAddress = new Map(known.map((d) => [d.address, d]));
    const matched = new Map<string, { row: DeviceRow; seen: ReportedDevice }>();
    const fresh: ReportedDevice[] = [];
    for (const seen of reported) {
      const row = (seen.serial && bySerial.get(`${seen.kind}/${seen.serial}`)) || byAddress.get(seen.address);
      if (row && !matched.has(row.id)) matched.set(row.id, { row, seen });
      else fresh.push(seen);
    }

    const actor = { actor: services.actor, note: 'inventory report' };
    const vanished = known.filter((row) => !matched.has(row.id));
    const takenAddresses = new Set(reported.map((d) => d.address));
    for (const row of vanished) {
      const next = observe(row.status, { present: false, boundToVfio: false, driverIsMeaningful: true });
      // A missing device gives up its slot address if another device now sits there.
      const address = takenAddresses.has(row.address) ? `${row.address}~${row.id.slice(0, 8)}` : row.address;
      if (address !== row.address) await tx.update(devices).set({ address }).where(eq(devices.id, row.id));
      if (next) await writeDeviceStatus(tx, changes, { ...row, address }, next, actor);
    }

    // Moved devices first free their old addresses, so two drives swapping slots do not collide.
    const moved = [...matched.values()].filter(({ row, seen }) => row.address !== seen.address);
    for (const { row } of moved) await tx.update(devices).set({ address: `~${row.id}` }).where(eq(devices.id, row.id));

    for (const { row, seen } of matched.values()) {
      // An unchanged device is neither written nor announced.
      const described = describedChanged(row, seen);
      const current = described ? (await tx.update(devices).set({ ...seen, updatedAt: new Date() }).where(eq(devices.id, row.id)).returning())[0]! : row;
      const next = observe(row.status, {
        present: true,
        boundToVfio: seen.driver === VFIO_DRIVER,
        driverIsMeaningful: seen.kind !== 'USB',
      });
      if (next) await writeDeviceStatus(tx, changes, current, next, actor);
      else if (described) changes.device({ id: row.id, hostId, vmIds: row.vmId ? [row.vmId] : [] });
    }

    for (const seen of fresh) {
      const status = observe(null, { present: true, boundToVfio: seen.driver === VFIO_DRIVER, driverIsMeaningful: seen.kind !== 'USB' })!;
      const [created] = await tx.insert(devices).values({ ...seen, hostId, status }).returning();
      await recordNewDevice(tx, changes, created!, actor);
    }
    newDevices = fresh.length;
    if (reportedVms) await reconcileDomains(tx, changes, hostId, liveVms, reportedVms, actor);
    return host;
  });
  if (newDevices >= ANALYZE_AFTER_NEW_DEVICES) await refreshPlannerStatistics(services.db);
  return reportedHost;
}

function describedChanged(row: DeviceRow, seen: ReportedDevice) {
  return (Object.keys(seen) as (keyof ReportedDevice)[]).some((key) => row[key] !== seen[key]);
}

function lockLiveVms(tx: Tx, hostId: string) {
  return tx.select().from(vms).where(and(eq(vms.hostId, hostId), ne(vms.status, 'DELETED'))).orderBy(asc(vms.id)).for('no key update');
}

/**
 * Settles assignments and power from the host's libvirt domains: an assignment the server
 * lost (an operation that timed out after the host did it) comes back, one the host no longer
 * has goes back to the pool, and a VM's power follows the hypervisor. Domains Passthru did not
 * create are ignored.
 */
async function reconcileDomains(
  tx: Tx,
  changes: ChangeSet,
  hostId: string,
  liveVms: (typeof vms.$inferSelect)[],
  reportedVms: ReportedVm[],
  actor: StatusChangeContext,
) {
  const domainByName = new Map(reportedVms.map((domain) => [domain.name, domain]));
  const holder = new Map<string, string>();
  for (const vm of liveVms) {
    const domain = domainByName.get(vm.name) ?? null;
    const next = observeVm(vm.status, domain);
    if (next) {
      await tx.update(vms).set({ status: next, deletedAt: next === 'DELETED' ? new Date() : null }).where(eq(vms.id, vm.id));
      changes.vm({ id: vm.id, hostId });
    }
    // The devices a domain holds are its VM's, unless an operation is still moving the VM.
    if (domain && (next ?? vm.status) !== 'DELETED') for (const address of domain.deviceAddresses) holder.set(address, vm.id);
  }
  const current = await tx.select().from(devices).where(eq(devices.hostId, hostId)).orderBy(asc(devices.id)).for('no key update');
  for (const device of current) {
    const heldBy = holder.get(device.address);
    const next = observeAssignment(device.status, heldBy !== undefined);
    if (next) await writeDeviceStatus(tx, changes, device, next, { ...actor, vmId: heldBy ?? null });
    else if (device.status === 'ASSIGNED' && heldBy && heldBy !== device.vmId) {
      // Passed through to another VM than the server believed: the host wins.
      await writeDeviceStatus(tx, changes, device, 'ASSIGNED', { ...actor, vmId: heldBy });
    }
  }
}
