import { SvelteMap } from 'svelte/reactivity';
import { Action } from '../api/action.svelte.ts';
import { graphql } from '../api/graphql.ts';

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

/**
 * The device mutations of one table. Each device keeps its own last error, shown on its row
 * beside the ACTIONS menu that caused it, until the next action on that device.
 */
export class DeviceCommands {
  errors = new SvelteMap<string, string>();
  #detach = new Action(DetachDevice);
  #attach = new Action(AttachDevice);
  #release = new Action(ReleaseDevice);
  assignAction = new Action(AssignDevice);

  async #run(deviceId: string, action: Action<any, { deviceId: string }>) {
    this.errors.delete(deviceId);
    const ok = await action.run({ deviceId });
    if (!ok && action.error) this.errors.set(deviceId, action.error);
    return ok !== null;
  }

  detach = (deviceId: string) => this.#run(deviceId, this.#detach);
  attach = (deviceId: string) => this.#run(deviceId, this.#attach);
  release = (deviceId: string) => this.#run(deviceId, this.#release);

  /** The assign dialog shows its own error (assignAction.error) beside EXECUTE. */
  async assign(deviceId: string, vmId: string) {
    this.errors.delete(deviceId);
    return (await this.assignAction.run({ deviceId, vmId })) !== null;
  }

  dismiss(deviceId: string) {
    this.errors.delete(deviceId);
  }
}
