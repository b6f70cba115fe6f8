// The checker: after quiescence, reads the database directly (one repeatable-read snapshot), every
// simulated host's state file, the recorded history and what each subscriber saw, and checks each
// invariant, listing every violation. The device and VM rules are asked of the server's own state
// machines (server/domain/device-state.ts, vm-state.ts), not restated here.

import { existsSync, readFileSync } from 'node:fs';
import postgres from 'postgres';
import type { SimHostConfig } from '../../agent/backends/sim/config.ts';
import { buildDevices } from '../../agent/backends/sim/hardware.ts';
import { holdsVm, isInFlight, observe, observeAssignment, type DeviceStatus } from '../../server/domain/device-state.ts';
import { observeVm, VM_TRANSITIONS, type VmStatus } from '../../server/domain/vm-state.ts';
import type { Cluster, ExitRecord } from './cluster.ts';
import type { Fault } from './nemesis.ts';
import type { HistoryEntry, Subscriber } from './workload.ts';
import { globalId, localId } from './util.ts';

export interface InvariantResult {
  name: string;
  description: string;
  checked: number;
  violations: unknown[];
}

export interface Snapshot {
  takenAt: number;
  hosts: { id: string; name: string; status: string }[];
  devices: { id: string; host_id: string; kind: string; address: string; status: DeviceStatus; vm_id: string | null; driver: string | null; iommu_group: number | null }[];
  vms: { id: string; host_id: string; name: string; status: VmStatus }[];
  operations: { id: string; type: string; host_id: string; vm_id: string | null; status: string; actor: string; created_at: Date; deadline_at: Date; finished_at: Date | null; error: string | null; past_deadline_ms: number }[];
  operationDevices: { operation_id: string; device_id: string }[];
  events: { id: string; device_id: string; from_status: DeviceStatus | null; to_status: DeviceStatus; vm_id: string | null; operation_id: string | null; actor: string; at: Date }[];
}

/** Everything the checker reads from the database, in one consistent snapshot. */
export async function readSnapshot(databaseUrl: string): Promise<Snapshot> {
  const sql = postgres(databaseUrl, { max: 1, onnotice: () => undefined, connect_timeout: 10 });
  try {
    return await sql.begin('isolation level repeatable read', async (tx) => {
      const hosts = await tx`select id, name, status from hosts order by name`;
      const devices = await tx`select id, host_id, kind, address, status, vm_id, driver, iommu_group from devices order by host_id, address`;
      const vms = await tx`select id, host_id, name, status from vms order by created_at`;
      const operations = await tx`
        select id, type, host_id, vm_id, status, actor, created_at, deadline_at, finished_at, error,
               extract(epoch from (clock_timestamp() - deadline_at)) * 1000 as past_deadline_ms
        from operations order by created_at`;
      const operationDevices = await tx`select operation_id, device_id from operation_devices`;
      const events = await tx`select id::text, device_id, from_status, to_status, vm_id, operation_id, actor, at from device_events order by device_id, device_events.id`;
      return {
        takenAt: Date.now(),
        hosts: [...hosts],
        devices: [...devices],
        vms: [...vms],
        operations: operations.map((o) => ({ ...o, past_deadline_ms: Number(o.past_deadline_ms) })),
        operationDevices: [...operationDevices],
        events: [...events],
      } as unknown as Snapshot;
    });
  } finally {
    await sql.end({ timeout: 5 });
  }
}

interface HostTruth {
  hostId: string;
  name: string;
  devices: { address: string; kind: string; driver: string | null; iommuGroup: number | null }[];
  domains: { name: string; devices: string[]; running: boolean }[];
  fromStateFile: boolean;
}

/** What each simulated host really has: its state file, or its boot state when it never changed. */
export function readHostTruth(cluster: Cluster): HostTruth[] {
  return cluster.hosts.map((host) => {
    const hostId = localId(host.id)!;
    if (existsSync(host.stateFile)) {
      const state = JSON.parse(readFileSync(host.stateFile, 'utf8'));
      if (state.version !== 1) throw new Error(`${host.stateFile}: state file version ${state.version}, expected 1`);
      return { hostId, name: host.name, devices: state.devices, domains: state.domains, fromStateFile: true };
    }
    const config = JSON.parse(readFileSync(host.configFile, 'utf8')) as SimHostConfig;
    return { hostId, name: host.name, devices: buildDevices(config), domains: [], fromStateFile: false };
  });
}

/** A window around a request, in ms, for matching database timestamps taken on the same clock. */
const SLACK_MS = 50;
/** How long past its deadline an unfinished operation may be before the sweep must have failed it. */
const SWEEP_SLACK_MS = 3000;

const VM_IN_FLIGHT: ReadonlySet<VmStatus> = new Set(Object.values(VM_TRANSITIONS).map((t) => t.via));

export interface CheckInput {
  snapshot: Snapshot;
  truth: HostTruth[];
  history: HistoryEntry[];
  subscribers: Subscriber[];
  exits: ExitRecord[];
  faults: Fault[];
}

export function check(input: CheckInput): InvariantResult[] {
  return [
    noDoubleOrForeignAssignment(input),
    nothingInTransit(input),
    databaseMatchesHosts(input),
    noAcknowledgedChangeLost(input),
    noRefusedRequestChangedSomething(input),
    continuousHistory(input),
    subscribersSawEveryChange(input),
    processesSurvive(input),
    iommuGroupsWhole(input),
  ];
}

function noDoubleOrForeignAssignment({ snapshot, truth }: CheckInput): InvariantResult {
  const violations: unknown[] = [];
  const vmById = new Map(snapshot.vms.map((vm) => [vm.id, vm]));
  for (const device of snapshot.devices) {
    if (holdsVm(device.status) !== (device.vm_id !== null)) {
      violations.push({ rule: 'a device names a VM exactly when its status holds one', device });
    }
    if (!device.vm_id) continue;
    const vm = vmById.get(device.vm_id);
    if (!vm) violations.push({ rule: 'the VM a device names exists', device });
    else if (vm.host_id !== device.host_id) violations.push({ rule: 'a device is held only by a VM on its own host', device, vm });
    else if (vm.status === 'DELETED') violations.push({ rule: 'no device is held by a deleted VM', device, vm });
  }
  // On the hosts themselves: no device passed through to two domains.
  for (const host of truth) {
    const holder = new Map<string, string>();
    for (const domain of host.domains) {
      for (const address of domain.devices) {
        const other = holder.get(address);
        if (other) violations.push({ rule: 'no device is in two domains on its host', host: host.name, address, domains: [other, domain.name] });
        holder.set(address, domain.name);
      }
    }
  }
  return {
    name: 'a. no device in two VMs or on a foreign/deleted VM',
    description: 'devices.vm_id only with a holding status, on a live VM of the same host; no address in two domains of a state file',
    checked: snapshot.devices.length + truth.reduce((n, h) => n + h.domains.length, 0),
    violations,
  };
}

function nothingInTransit({ snapshot }: CheckInput): InvariantResult {
  const violations: unknown[] = [];
  const unfinished = snapshot.operations.filter((o) => o.status === 'PENDING' || o.status === 'RUNNING');
  for (const operation of unfinished) {
    if (operation.past_deadline_ms > SWEEP_SLACK_MS) violations.push({ rule: 'no operation unfinished past its deadline (+3 s sweep slack)', operation });
  }
  const unfinishedIds = new Set(unfinished.map((o) => o.id));
  const movedBy = new Map<string, string[]>();
  for (const link of snapshot.operationDevices) {
    if (unfinishedIds.has(link.operation_id)) movedBy.set(link.device_id, [...(movedBy.get(link.device_id) ?? []), link.operation_id]);
  }
  for (const device of snapshot.devices) {
    if (isInFlight(device.status) && !movedBy.has(device.id)) violations.push({ rule: 'a device in an in-flight status has an unfinished operation', device });
  }
  const vmsMoved = new Set(unfinished.map((o) => o.vm_id).filter(Boolean));
  for (const vm of snapshot.vms) {
    if (VM_IN_FLIGHT.has(vm.status) && !vmsMoved.has(vm.id)) violations.push({ rule: 'a VM in an in-flight status has an unfinished operation', vm });
  }
  return {
    name: 'b. nothing in transit past its timeout',
    description: 'no PENDING/RUNNING operation past deadline_at + 3 s; no device (DETACHING/ATTACHING/ASSIGNING/RELEASING) or VM (PROVISIONING/STARTING/STOPPING/DELETING) in flight without an unfinished operation',
    checked: snapshot.operations.length + snapshot.devices.length + snapshot.vms.length,
    violations,
  };
}

function databaseMatchesHosts({ snapshot, truth }: CheckInput): InvariantResult {
  const violations: unknown[] = [];
  let checked = 0;
  const vmById = new Map(snapshot.vms.map((vm) => [vm.id, vm]));
  for (const host of truth) {
    const rows = snapshot.devices.filter((d) => d.host_id === host.hostId);
    const seenByAddress = new Map(host.devices.map((d) => [d.address, d]));
    const domainOf = new Map<string, string>();
    for (const domain of host.domains) for (const address of domain.devices) domainOf.set(address, domain.name);

    for (const row of rows) {
      checked++;
      const seen = seenByAddress.get(row.address);
      // What an inventory report of this host would make of the row: null means they agree.
      const wanted = observe(row.status, { present: !!seen, boundToVfio: seen?.driver === 'vfio-pci', driverIsMeaningful: row.kind !== 'USB' });
      if (wanted !== null) violations.push({ rule: 'device status agrees with the host driver', host: host.name, address: row.address, database: row.status, hostDriver: seen?.driver ?? '(absent)', observeSays: wanted });
      if (seen && row.driver !== seen.driver) violations.push({ rule: 'devices.driver is the host driver', host: host.name, address: row.address, database: row.driver, hostDriver: seen.driver, status: row.status });
      if (row.status === 'DETACHED' || row.status === 'ASSIGNED') {
        const domain = domainOf.get(row.address) ?? null;
        const assignment = observeAssignment(row.status, domain !== null);
        if (assignment !== null) violations.push({ rule: 'device assignment agrees with the host domains', host: host.name, address: row.address, database: row.status, domain, observeAssignmentSays: assignment });
        else if (row.status === 'ASSIGNED') {
          const vm = row.vm_id ? vmById.get(row.vm_id) : undefined;
          if (vm?.name !== domain) violations.push({ rule: 'an assigned device is in the domain of its VM', host: host.name, address: row.address, vm: vm?.name ?? null, domain });
        }
      }
    }
    for (const [address, domain] of domainOf) {
      const row = rows.find((r) => r.address === address);
      const vm = row?.vm_id ? vmById.get(row.vm_id) : undefined;
      if (!row || row.status !== 'ASSIGNED' || vm?.name !== domain) {
        violations.push({ rule: 'a device in a domain is ASSIGNED to that VM', host: host.name, address, domain, database: row ? { status: row.status, vm: vm?.name ?? null } : null });
      }
    }

    const liveVms = snapshot.vms.filter((vm) => vm.host_id === host.hostId && vm.status !== 'DELETED');
    const domainsByName = new Map(host.domains.map((domain) => [domain.name, domain]));
    for (const vm of liveVms) {
      checked++;
      const domain = domainsByName.get(vm.name) ?? null;
      const wanted = observeVm(vm.status, domain);
      if (wanted !== null) violations.push({ rule: 'a VM exists and is powered as its domain is', host: host.name, vm: vm.name, database: vm.status, domain: domain ? { running: domain.running, devices: domain.devices } : null, observeVmSays: wanted });
    }
    for (const domain of host.domains) {
      checked++;
      if (!liveVms.some((vm) => vm.name === domain.name)) {
        const dead = snapshot.vms.filter((vm) => vm.name === domain.name).map((vm) => ({ id: vm.id, status: vm.status, host: vm.host_id }));
        violations.push({ rule: 'every domain belongs to a live VM of its host', host: host.name, domain: domain.name, running: domain.running, devices: domain.devices, vmRows: dead });
      }
    }
  }
  return {
    name: 'c. database equals every host state file',
    description: "device status vs driver (the server's observe()), devices.driver, assignments vs domains (observeAssignment()), VM existence and power (observeVm()), every domain a live VM",
    checked,
    violations,
  };
}

function noAcknowledgedChangeLost({ snapshot, history }: CheckInput): InvariantResult {
  const violations: unknown[] = [];
  const operations = new Set(snapshot.operations.map((o) => o.id));
  const vms = new Set(snapshot.vms.map((vm) => vm.id));
  const acked = history.filter((entry) => entry.outcome === 'success');
  for (const entry of acked) {
    const operationId = localId(entry.operationId);
    if (!operationId || !operations.has(operationId)) violations.push({ rule: 'an acknowledged operation is in the database', entry });
    if (entry.mutation === 'provisionVm') {
      const vmId = localId(entry.vmId);
      if (!vmId || !vms.has(vmId)) violations.push({ rule: 'an acknowledged provision has its VM in the database', entry });
    }
  }
  return {
    name: 'd. no acknowledged change lost',
    description: 'every success answer names an operation (and for provisionVm a VM) that is in the database',
    checked: acked.length,
    violations,
  };
}

function noRefusedRequestChangedSomething({ snapshot, history }: CheckInput): InvariantResult {
  const violations: unknown[] = [];
  const refused = history.filter((entry) => entry.outcome === 'refused');
  const acked = new Set(history.filter((e) => e.outcome === 'success').map((e) => localId(e.operationId)));
  // A refused provision with a name no one else used must not have left a VM of that name.
  const vmNames = new Set(snapshot.vms.map((vm) => vm.name));
  for (const entry of refused) {
    if (entry.mutation === 'provisionVm' && entry.input.name && vmNames.has(entry.input.name)) {
      violations.push({ rule: 'a refused provision created no VM', entry, vms: snapshot.vms.filter((vm) => vm.name === entry.input.name) });
    }
  }
  // Each client sends one request at a time, with a token of its own: an operation of its actor
  // that no success acknowledged was made by the request in flight when it was created.
  const byActor = new Map<string, HistoryEntry[]>();
  for (const entry of history) byActor.set(entry.actor, [...(byActor.get(entry.actor) ?? []), entry]);
  const devicesOf = new Map<string, string[]>();
  for (const link of snapshot.operationDevices) devicesOf.set(link.operation_id, [...(devicesOf.get(link.operation_id) ?? []), link.device_id]);
  for (const operation of snapshot.operations) {
    const entries = byActor.get(operation.actor);
    if (!entries || acked.has(operation.id)) continue;
    const created = operation.created_at.getTime();
    const during = entries.filter((e) => e.sentAt - SLACK_MS <= created && created <= e.answeredAt + SLACK_MS);
    // An unknown outcome (no answer, a GraphQL error) may well have created it.
    if (during.some((e) => e.outcome !== 'refused')) continue;
    const named = new Set(during.flatMap((e) => [localId(e.input.deviceId), localId(e.input.vmId)]).filter(Boolean));
    const touched = [...(devicesOf.get(operation.id) ?? []), operation.vm_id].filter(Boolean) as string[];
    violations.push({
      rule: during.length ? 'a refused request created an operation' : 'an operation of a client was created outside any of its requests',
      operation: { ...operation, devices: devicesOf.get(operation.id) ?? [] },
      namesMatch: touched.some((id) => named.has(id)),
      requests: during,
    });
  }
  return {
    name: 'e. no refused request changed something',
    description: "no VM named as a refused provision; no operation by a client's actor created during a request of it that was refused (clients are sequential, one token each)",
    checked: refused.length,
    violations,
  };
}

function continuousHistory({ snapshot }: CheckInput): InvariantResult {
  const violations: unknown[] = [];
  const eventsOf = new Map<string, Snapshot['events']>();
  for (const event of snapshot.events) eventsOf.set(event.device_id, [...(eventsOf.get(event.device_id) ?? []), event]);
  for (const device of snapshot.devices) {
    const events = eventsOf.get(device.id) ?? [];
    if (!events.length) {
      violations.push({ rule: 'every device has a history', device });
      continue;
    }
    if (events[0]!.from_status !== null) violations.push({ rule: 'a history starts from nothing', device: device.id, first: events[0] });
    for (let i = 1; i < events.length; i++) {
      if (events[i]!.from_status !== events[i - 1]!.to_status) {
        violations.push({ rule: 'each event starts where the previous one ended', device: device.id, address: device.address, previous: events[i - 1], event: events[i] });
      }
    }
    const last = events[events.length - 1]!;
    if (last.to_status !== device.status) violations.push({ rule: "the last event ends at the device's status", device: device.id, address: device.address, status: device.status, last });
  }
  return {
    name: 'f. continuous device history',
    description: 'per device, device_events by id: first from_status null, each from_status = previous to_status, last to_status = devices.status',
    checked: snapshot.events.length,
    violations,
  };
}

/** Whether every subscriber's last event of every device matches the database. */
export function subscriberMismatches(snapshot: Snapshot, subscribers: Subscriber[]) {
  const vmGlobal = (id: string | null) => (id ? globalId('VM', id) : null);
  const mismatches: unknown[] = [];
  for (const subscriber of subscribers) {
    const last = subscriber.lastSeen();
    for (const device of snapshot.devices) {
      const seen = last.get(globalId('Device', device.id));
      if (!seen || seen.status !== device.status || seen.vmId !== vmGlobal(device.vm_id)) {
        mismatches.push({ rule: "a subscriber's last event of a device is its final state", server: subscriber.server, device: device.id, address: device.address, database: { status: device.status, vm: device.vm_id }, lastSeen: seen ?? null, events: subscriber.events.length, resubscriptions: subscriber.gaps.length });
      }
    }
  }
  return mismatches;
}

function subscribersSawEveryChange({ snapshot, subscribers }: CheckInput): InvariantResult {
  return {
    name: 'g. every subscriber saw every committed change',
    description: 'for each subscriber (one per server, resuming from its last cursor) and device, the last deviceChanged event has the final status and VM',
    checked: subscribers.length * snapshot.devices.length,
    violations: subscriberMismatches(snapshot, subscribers),
  };
}

function processesSurvive({ exits, faults }: CheckInput): InvariantResult {
  return {
    name: 'h. no process died but by the nemesis',
    description: 'servers and agents exit only when killed (a server must survive its database disappearing)',
    checked: faults.length,
    violations: exits,
  };
}

/** DESIGN.md: PCI functions that share an IOMMU group are never held by two VMs. */
function iommuGroupsWhole({ snapshot, truth }: CheckInput): InvariantResult {
  const violations: unknown[] = [];
  const vmById = new Map(snapshot.vms.map((vm) => [vm.id, vm]));
  const groups = new Map<string, Snapshot['devices']>();
  for (const device of snapshot.devices) {
    if (device.iommu_group === null) continue;
    const key = `${device.host_id}/${device.iommu_group}`;
    groups.set(key, [...(groups.get(key) ?? []), device]);
  }
  for (const [key, members] of groups) {
    const holders = new Set(members.map((d) => d.vm_id).filter(Boolean));
    if (holders.size > 1) {
      const host = truth.find((h) => h.hostId === members[0]!.host_id)?.name ?? members[0]!.host_id;
      violations.push({
        rule: 'an IOMMU group is held by one VM at most',
        host,
        group: key.split('/')[1],
        devices: members.map((d) => ({ address: d.address, kind: d.kind, status: d.status, vm: d.vm_id ? (vmById.get(d.vm_id)?.name ?? d.vm_id) : null })),
      });
    }
  }
  return {
    name: 'i. an IOMMU group is held by one VM at most',
    description: 'DESIGN.md: functions sharing an IOMMU group (a GPU and its audio function) are never held by two VMs (database rows)',
    checked: groups.size,
    violations,
  };
}
