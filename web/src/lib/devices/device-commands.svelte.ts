import { SvelteMap } from 'svelte/reactivity';
import { Action } from '../api/action.svelte.ts';
import { graphql } from '../../../../protocol/graphql.ts';
import { live } from '../api/live.ts';
import { DEVICE_ACTION } from './device-status.ts';
import type { DeviceAction } from './fragments.ts';

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
  mutation AssignDevice($deviceId: ID!, $vmId: ID!, $withGroup: Boolean!) {
    assignDevice(input: { deviceId: $deviceId, vmId: $vmId, withGroup: $withGroup }) {
      __typename
      ... on DeviceOperationSuccess { operation { id } devices { id status vm { id name } } }
      ... on Error { message }
    }
  }
`);


/**
 * The device mutations of one table. Each device keeps its own last error, shown on its row
 * beside the ACTIONS menu that caused it, until the next action on that device: a refusal from
 * the server at once, or the agent's error if the queued operation fails later.
 * Create it while a component initialises (it stops watching operations when that goes away).
 */
export class DeviceCommands {
  errors = new SvelteMap<string, string>();
  assignAction = new Action(AssignDevice);
  #watches = new Set<() => void>();

  constructor() {
    $effect(() => () => {
      for (const off of this.#watches) off();
      this.#watches.clear();
    });
  }

  #watch(deviceId: string, action: DeviceAction, operationId: string) {
    const off = live.watchOperation(operationId, (error) => this.errors.set(deviceId, `${DEVICE_ACTION[action].verb} failed: ${error}`));
    this.#watches.add(off);
  }

  async #run(deviceId: string, verb: Exclude<DeviceAction, 'ASSIGN'>, action: Action<any, { deviceId: string }>) {
    this.errors.delete(deviceId);
    const ok = await action.run({ deviceId });
    if (!ok && action.error) this.errors.set(deviceId, action.error);
    if (ok?.operation) this.#watch(deviceId, verb, ok.operation.id);
    return ok !== null;
  }

  /** DETACH, ATTACH or RELEASE of a device and whatever of its IOMMU group goes along. */
  run = (deviceId: string, action: Exclude<DeviceAction, 'ASSIGN'>) => this.#run(deviceId, action, this.#actions[action]);

  #actions = { DETACH: new Action(DetachDevice), ATTACH: new Action(AttachDevice), RELEASE: new Action(ReleaseDevice) };

  /**
   * The assign dialog shows a refusal (assignAction.error) beside EXECUTE; a later failure shows
   * on the row. `withGroup`: the dialog showed the group-mates that go along.
   */
  async assign(deviceId: string, vmId: string, withGroup: boolean) {
    this.errors.delete(deviceId);
    const ok = await this.assignAction.run({ deviceId, vmId, withGroup });
    if (ok?.__typename === 'DeviceOperationSuccess') this.#watch(deviceId, 'ASSIGN', ok.operation.id);
    return ok !== null;
  }

  dismiss(deviceId: string) {
    this.errors.delete(deviceId);
  }
}
