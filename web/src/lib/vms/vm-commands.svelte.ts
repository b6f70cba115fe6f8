import { Action } from '../api/action.svelte.ts';
import { graphql } from '../../../../protocol/graphql.ts';
import { live } from '../api/live.ts';

const StartVm = graphql(`
  mutation StartVm($vmId: ID!) {
    startVm(input: { vmId: $vmId }) {
      __typename
      ... on VmOperationSuccess { vm { id status } operation { id } }
      ... on Error { message }
    }
  }
`);
const StopVm = graphql(`
  mutation StopVm($vmId: ID!) {
    stopVm(input: { vmId: $vmId }) {
      __typename
      ... on VmOperationSuccess { vm { id status } operation { id } }
      ... on Error { message }
    }
  }
`);
const DeleteVm = graphql(`
  mutation DeleteVm($vmId: ID!) {
    deleteVm(input: { vmId: $vmId }) {
      __typename
      ... on VmOperationSuccess { vm { id status } devices { id status } operation { id } }
      ... on Error { message }
    }
  }
`);

/**
 * Power and teardown of one VM; each keeps its own error for the button that caused it, and an
 * operation that fails later (the agent refused) reports there too. Create during component init.
 */
export class VmCommands {
  start = new Action(StartVm);
  stop = new Action(StopVm);
  remove = new Action(DeleteVm);
  /** Why the last power or delete operation failed on the host. */
  failure = $state<string | null>(null);
  #watches = new Set<() => void>();

  constructor() {
    $effect(() => () => {
      for (const off of this.#watches) off();
    });
  }

  async #run(action: Action<any, { vmId: string }>, verb: string, vmId: string) {
    this.failure = null;
    const ok = await action.run({ vmId });
    if (ok?.operation) this.#watches.add(live.watchOperation(ok.operation.id, (error) => (this.failure = `${verb} failed: ${error}`)));
    return ok !== null;
  }

  powerOn = (vmId: string) => this.#run(this.start, 'Start', vmId);
  powerOff = (vmId: string) => this.#run(this.stop, 'Stop', vmId);
  teardown = (vmId: string) => this.#run(this.remove, 'Delete', vmId);

  /** The error to show beside Start / Stop / Delete. */
  get powerError() {
    return this.start.error ?? this.stop.error ?? this.failure;
  }
}
