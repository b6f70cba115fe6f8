import { SvelteMap } from 'svelte/reactivity';
import { Action } from '../api/action.svelte.ts';
import { graphql } from '../api/graphql.ts';
import { live } from '../api/live.ts';

const DetachDevice = graphql(`
  mutation DetachDevice($deviceId: ID!) {
    detachDevice(input: { deviceId: $deviceId }) {
      __typename
      ... on DeviceOperationSuccess { operation { id } devices { id status } }
      ... on Error { message }
    }
  }
`);
const AttachDevice = graphql(`
  mutation AttachDevice($deviceId: ID!) {
    attachDevice(input: { deviceId: $deviceId }) {
      __typename
      ... on DeviceOperationSuccess { operation { id } devices { id status } }
      ... on Error { message }
    }
  }
`);
const ReleaseDevice = graphql(`
  mutation ReleaseDevice($deviceId: ID!) {
    releaseDevice(input: { deviceId: $deviceId }) {
      __typename
      ... on DeviceOperationSuccess { operation { id } devices { id status } }
      ... on Error { message }
    }
  }
`);
const AssignDevice = graphql(`
  mutation AssignDevice($deviceId: ID!, $vmId: ID!) {
    assignDevice(input: { deviceId: $deviceId, vmId: $vmId }) {
      __typename
      ... on DeviceOperationSuccess { operation { id } devices { id status vm { id name } } }
      ... on Error { message }
    }
  }
`);

const VERB = { detach: 'Detach', attach: 'Attach', release: 'Release', assign: 'Assign' } as const;

/**
 * The device mutations of one table. Each device keeps its own last error, shown on its row
 * beside the ACTIONS menu that caused it, until the next action on that device: a refusal from
 * the server at once, or the agent's error if the queued operation fails later.
 * Create it while a component initialises (it stops watching operations when that goes away).
 */
export class DeviceCommands {
  errors = new SvelteMap<string, string>();
  #detach = new Action(DetachDevice);
  #attach = new Action(AttachDevice);
  #release = new Action(ReleaseDevice);
  assignAction = new Action(AssignDevice);
  #watches = new Set<() => void>();

  constructor() {
    $effect(() => () => {
      for (const off of this.#watches) off();
      this.#watches.clear();
    });
  }

  #watch(deviceId: string, verb: keyof typeof VERB, operationId: string) {
    const off = live.watchOperation(operationId, (error) => this.errors.set(deviceId, `${VERB[verb]} failed: ${error}`));
    this.#watches.add(off);
  }

  async #run(deviceId: string, verb: 'detach' | 'attach' | 'release', action: Action<any, { deviceId: string }>) {
    this.errors.delete(deviceId);
    const ok = await action.run({ deviceId });
    if (!ok && action.error) this.errors.set(deviceId, action.error);
    if (ok?.operation) this.#watch(deviceId, verb, ok.operation.id);
    return ok !== null;
  }

  detach = (deviceId: string) => this.#run(deviceId, 'detach', this.#detach);
  attach = (deviceId: string) => this.#run(deviceId, 'attach', this.#attach);
  release = (deviceId: string) => this.#run(deviceId, 'release', this.#release);

  /** The assign dialog shows a refusal (assignAction.error) beside EXECUTE; a later failure shows on the row. */
  async assign(deviceId: string, vmId: string) {
    this.errors.delete(deviceId);
    const ok = await this.assignAction.run({ deviceId, vmId });
    if (ok?.__typename === 'DeviceOperationSuccess') this.#watch(deviceId, 'assign', ok.operation.id);
    return ok !== null;
  }

  dismiss(deviceId: string) {
    this.errors.delete(deviceId);
  }
}
