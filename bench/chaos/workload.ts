// The clients: C concurrent loops, each one request at a time with its own API token, picking at
// random among valid and invalid operations against a random server, every request recorded. And
// one deviceChanged subscriber per server, resuming from its last cursor whenever its socket drops.

import { createClient, type Client } from 'graphql-ws';
import WebSocket from 'ws';
import type { Cluster } from './cluster.ts';
import { globalId, graphql, Random, sleep } from './util.ts';

export type MutationName = 'detachDevice' | 'attachDevice' | 'assignDevice' | 'releaseDevice' | 'provisionVm' | 'deleteVm' | 'startVm' | 'stopVm';

/** One request of the history, as the client saw it. */
export interface HistoryEntry {
  seq: number;
  client: number;
  /** The client's token's actor name, as operations record it. */
  actor: string;
  server: number;
  mutation: MutationName;
  /** What the client meant: a request it believed valid, or one built to be refused. */
  intent: string;
  input: Record<string, string>;
  sentAt: number;
  answeredAt: number;
  /**
   * success: the success member of the result union; refused: an Error member; error: a GraphQL
   * error or no answer, so the outcome is unknown.
   */
  outcome: 'success' | 'refused' | 'indeterminate';
  typename?: string;
  message?: string;
  operationId?: string;
  vmId?: string;
  /** GraphQL errors (code) or the transport failure. */
  error?: string;
}

const SUCCESS = new Set(['DeviceOperationSuccess', 'VmOperationSuccess']);

const DEVICE_RESULT = `__typename
  ... on DeviceOperationSuccess { operation { id } devices { id status } }
  ... on Error { message }`;
const VM_RESULT = `__typename
  ... on VmOperationSuccess { vm { id status } operation { id } devices { id status } }
  ... on Error { message }`;

const RESULT_FIELDS: Record<MutationName, string> = {
  detachDevice: DEVICE_RESULT,
  attachDevice: DEVICE_RESULT,
  assignDevice: DEVICE_RESULT,
  releaseDevice: DEVICE_RESULT,
  provisionVm: VM_RESULT,
  deleteVm: VM_RESULT,
  startVm: VM_RESULT,
  stopVm: VM_RESULT,
};

const INPUT_TYPE: Record<MutationName, string> = {
  detachDevice: 'DetachDeviceInput',
  attachDevice: 'AttachDeviceInput',
  assignDevice: 'AssignDeviceInput',
  releaseDevice: 'ReleaseDeviceInput',
  provisionVm: 'ProvisionVmInput',
  deleteVm: 'DeleteVmInput',
  startVm: 'StartVmInput',
  stopVm: 'StopVmInput',
};

interface DeviceView {
  id: string;
  kind: string;
  status: string;
  hostId: string;
  vmId: string | null;
}
interface VmView {
  id: string;
  name: string;
  status: string;
  hostId: string;
}

const VIEW_QUERY = `{
  devices(first: 500) { nodes { id kind status host { id } vm { id } } }
  vms(first: 500, includeDeleted: true) { nodes { id name status host { id } } }
}`;

export class Workload {
  readonly history: HistoryEntry[] = [];
  #running = false;
  #loops: Promise<void>[] = [];
  #seq = 0;

  constructor(
    private readonly cluster: Cluster,
    private readonly seed: number,
  ) {}

  start() {
    this.#running = true;
    this.#loops = this.cluster.clientTokens.map((credential, index) => this.#client(index, credential, new Random(this.seed * 1000 + index + 1)));
  }

  async stop() {
    this.#running = false;
    await Promise.all(this.#loops);
  }

  async #client(index: number, credential: { token: string; actor: string }, random: Random) {
    let devices: DeviceView[] = [];
    let vms: VmView[] = [];
    let sinceRefresh = Infinity;
    let names = 0;
    while (this.#running) {
      const serverIndex = random.int(0, this.cluster.servers.length - 1);
      const url = this.cluster.servers[serverIndex]!.url;
      if (sinceRefresh >= 4) {
        const view = await graphql(url, { token: credential.token }, VIEW_QUERY);
        if (view.data?.devices) {
          devices = view.data.devices.nodes.map((d: any) => ({ id: d.id, kind: d.kind, status: d.status, hostId: d.host.id, vmId: d.vm?.id ?? null }));
          vms = view.data.vms.nodes.map((v: any) => ({ id: v.id, name: v.name, status: v.status, hostId: v.host.id }));
          sinceRefresh = 0;
        } else {
          await sleep(200);
        }
      }
      const request = this.#choose(random, devices, vms, () => `c${index}-${names++}`);
      if (!request) {
        sinceRefresh = Infinity;
        await sleep(100);
        continue;
      }
      sinceRefresh++;
      await this.#send(index, credential, serverIndex, url, request);
      await sleep(random.int(0, 100));
    }
  }

  #choose(random: Random, devices: DeviceView[], vms: VmView[], newName: () => string): { mutation: MutationName; intent: string; input: Record<string, string> } | null {
    const live = vms.filter((v) => v.status !== 'DELETED');
    const withStatus = (status: string) => devices.filter((d) => d.status === status);
    const roll = random.next();
    const device = (list: DeviceView[]) => random.pick(list);
    // Valid (as far as this client's possibly stale view knows), about three quarters of requests.
    if (roll < 0.75) {
      const kind = random.pick(['detach', 'attach', 'assign', 'release', 'provision', 'delete', 'start', 'stop', 'provision', 'assign'] as const)!;
      switch (kind) {
        case 'detach': {
          const d = device(withStatus('ATTACHED').filter((d) => d.kind !== 'USB' && d.kind !== 'NVME'));
          return d ? { mutation: 'detachDevice', intent: 'valid', input: { deviceId: d.id } } : null;
        }
        case 'attach': {
          const d = device(withStatus('DETACHED'));
          return d ? { mutation: 'attachDevice', intent: 'valid', input: { deviceId: d.id } } : null;
        }
        case 'assign': {
          const d = device(withStatus('DETACHED'));
          const vm = d && random.pick(live.filter((v) => v.hostId === d.hostId && (v.status === 'RUNNING' || v.status === 'STOPPED')));
          return d && vm ? { mutation: 'assignDevice', intent: 'valid', input: { deviceId: d.id, vmId: vm.id } } : null;
        }
        case 'release': {
          const d = device(withStatus('ASSIGNED'));
          return d ? { mutation: 'releaseDevice', intent: 'valid', input: { deviceId: d.id } } : null;
        }
        case 'provision':
          return { mutation: 'provisionVm', intent: 'valid', input: { name: newName(), planId: this.cluster.planId, clusterId: this.cluster.clusterId } };
        case 'delete': {
          const vm = random.pick(live.filter((v) => ['RUNNING', 'STOPPED', 'FAILED'].includes(v.status)));
          return vm ? { mutation: 'deleteVm', intent: 'valid', input: { vmId: vm.id } } : null;
        }
        case 'start': {
          const vm = random.pick(live.filter((v) => v.status === 'STOPPED'));
          return vm ? { mutation: 'startVm', intent: 'valid', input: { vmId: vm.id } } : null;
        }
        case 'stop': {
          const vm = random.pick(live.filter((v) => v.status === 'RUNNING'));
          return vm ? { mutation: 'stopVm', intent: 'valid', input: { vmId: vm.id } } : null;
        }
      }
    }
    // Invalid: each should be refused with a typed error and change nothing.
    const kind = random.pick(['unknown-device', 'unknown-vm', 'malformed-id', 'other-host-vm', 'detach-assigned', 'attach-attached', 'release-unassigned', 'start-running', 'delete-deleted', 'bad-name', 'unknown-plan'] as const)!;
    switch (kind) {
      case 'unknown-device':
        return { mutation: random.pick(['detachDevice', 'attachDevice', 'releaseDevice'] as const)!, intent: kind, input: { deviceId: globalId('Device', random.uuid()) } };
      case 'unknown-vm':
        return { mutation: random.pick(['deleteVm', 'startVm', 'stopVm'] as const)!, intent: kind, input: { vmId: globalId('VM', random.uuid()) } };
      case 'malformed-id':
        return { mutation: 'detachDevice', intent: kind, input: { deviceId: random.pick(['nope', globalId('VM', random.uuid()), '']) ?? 'nope' } };
      case 'other-host-vm': {
        const d = device(withStatus('DETACHED')) ?? device(devices);
        const vm = d && random.pick(live.filter((v) => v.hostId !== d.hostId));
        return d && vm ? { mutation: 'assignDevice', intent: kind, input: { deviceId: d.id, vmId: vm.id } } : null;
      }
      case 'detach-assigned': {
        const d = device(withStatus('ASSIGNED'));
        return d ? { mutation: 'detachDevice', intent: kind, input: { deviceId: d.id } } : null;
      }
      case 'attach-attached': {
        const d = device(withStatus('ATTACHED'));
        return d ? { mutation: 'attachDevice', intent: kind, input: { deviceId: d.id } } : null;
      }
      case 'release-unassigned': {
        const d = device([...withStatus('DETACHED'), ...withStatus('ATTACHED')]);
        return d ? { mutation: 'releaseDevice', intent: kind, input: { deviceId: d.id } } : null;
      }
      case 'start-running': {
        const vm = random.pick(live.filter((v) => v.status === 'RUNNING'));
        return vm ? { mutation: 'startVm', intent: kind, input: { vmId: vm.id } } : null;
      }
      case 'delete-deleted': {
        const vm = random.pick(vms.filter((v) => v.status === 'DELETED'));
        return vm ? { mutation: 'deleteVm', intent: kind, input: { vmId: vm.id } } : null;
      }
      case 'bad-name':
        return { mutation: 'provisionVm', intent: kind, input: { name: `bad name ${newName()}!`, planId: this.cluster.planId, clusterId: this.cluster.clusterId } };
      case 'unknown-plan':
        return { mutation: 'provisionVm', intent: kind, input: { name: newName(), planId: globalId('ServicePlan', random.uuid()), clusterId: this.cluster.clusterId } };
    }
  }

  async #send(client: number, credential: { token: string; actor: string }, server: number, url: string, request: { mutation: MutationName; intent: string; input: Record<string, string> }) {
    const query = `mutation($input: ${INPUT_TYPE[request.mutation]}!) { result: ${request.mutation}(input: $input) { ${RESULT_FIELDS[request.mutation]} } }`;
    const sentAt = Date.now();
    // A device is assigned with the rest of its IOMMU group (a GPU's audio function), as the console does.
    const input = request.mutation === 'assignDevice' ? { ...request.input, withGroup: true } : request.input;
    const answer = await graphql(url, { token: credential.token }, query, { input });
    const answeredAt = Date.now();
    const entry: HistoryEntry = { seq: this.#seq++, client, actor: credential.actor, server, mutation: request.mutation, intent: request.intent, input: request.input, sentAt, answeredAt, outcome: 'indeterminate' };
    const result = answer.data?.result;
    if (answer.transportError) {
      entry.error = answer.transportError;
    } else if (answer.errors?.length || !result) {
      entry.error = (answer.errors ?? []).map((e) => `${e.extensions?.code ?? ''} ${e.message}`.trim()).join('; ') || `HTTP ${answer.status}`;
    } else if (SUCCESS.has(result.__typename)) {
      entry.outcome = 'success';
      entry.typename = result.__typename;
      entry.operationId = result.operation?.id;
      if (result.vm) entry.vmId = result.vm.id;
    } else {
      entry.outcome = 'refused';
      entry.typename = result.__typename;
      entry.message = result.message;
    }
    this.history.push(entry);
  }
}

/** A deviceChanged event as one subscriber received it. */
export interface SubscriberEvent {
  at: number;
  cursor: string;
  deviceId: string;
  status: string;
  vmId: string | null;
}

/**
 * One subscriber on one server, as a careful client would be: when its socket drops (the server
 * was killed) it subscribes again with `after:` its last cursor, so it misses nothing committed.
 */
export class Subscriber {
  readonly events: SubscriberEvent[] = [];
  readonly gaps: { at: number; reason: string }[] = [];
  #cursor: string | null = null;
  #client: Client | null = null;
  #running = true;
  #loop: Promise<void> | null = null;

  constructor(
    readonly server: number,
    private readonly url: string,
    private readonly token: string,
  ) {}

  /** Reads the head of the change log, so the subscription misses nothing committed from now on. */
  async start() {
    for (;;) {
      const answer = await graphql(this.url, { token: this.token }, '{ changeCursor }');
      if (answer.data?.changeCursor) {
        this.#cursor = answer.data.changeCursor;
        break;
      }
      await sleep(200);
    }
    this.#loop = this.#run();
  }

  async #run() {
    while (this.#running) {
      const reason = await this.#subscribeOnce();
      if (!this.#running) break;
      this.gaps.push({ at: Date.now(), reason });
      await sleep(500);
    }
  }

  #subscribeOnce(): Promise<string> {
    return new Promise((resolve) => {
      const client = createClient({
        url: `${this.url.replace(/^http/, 'ws')}/graphql`,
        webSocketImpl: WebSocket,
        lazy: true,
        retryAttempts: 0,
        connectionParams: { authorization: `Bearer ${this.token}` },
      });
      this.#client = client;
      let settled = false;
      const finish = (reason: string) => {
        if (settled) return;
        settled = true;
        void client.dispose();
        resolve(reason);
      };
      client.subscribe(
        { query: 'subscription($after: String) { deviceChanged(after: $after) { cursor device { id status vm { id } } } }', variables: { after: this.#cursor } },
        {
          next: (value) => {
            const change = (value.data as any)?.deviceChanged;
            if (!change) {
              finish(`error event: ${JSON.stringify(value.errors ?? value)}`);
              return;
            }
            this.#cursor = change.cursor;
            this.events.push({ at: Date.now(), cursor: change.cursor, deviceId: change.device.id, status: change.device.status, vmId: change.device.vm?.id ?? null });
          },
          error: (error) => finish(`error: ${(error as Error)?.message ?? JSON.stringify(error)}`),
          complete: () => finish('complete'),
        },
      );
      // The end of the run ends the subscription too.
      const timer = setInterval(() => {
        if (settled) clearInterval(timer);
        else if (!this.#running) {
          clearInterval(timer);
          finish('stopped');
        }
      }, 200);
    });
  }

  /** The last status this subscriber saw of each device (global ID). */
  lastSeen(): Map<string, SubscriberEvent> {
    const last = new Map<string, SubscriberEvent>();
    for (const event of this.events) last.set(event.deviceId, event);
    return last;
  }

  async stop() {
    this.#running = false;
    await this.#loop;
    await this.#client?.dispose();
  }
}
