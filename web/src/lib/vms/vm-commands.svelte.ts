import { Action } from '../api/action.svelte.ts';
import { graphql } from '../api/graphql.ts';

const StartVm = graphql(`
  mutation StartVm($vmId: ID!) {
    startVm(input: { vmId: $vmId }) {
      __typename
      ... on VmOperationSuccess { vm { id status } }
      ... on Error { message }
    }
  }
`);
const StopVm = graphql(`
  mutation StopVm($vmId: ID!) {
    stopVm(input: { vmId: $vmId }) {
      __typename
      ... on VmOperationSuccess { vm { id status } }
      ... on Error { message }
    }
  }
`);
const DeleteVm = graphql(`
  mutation DeleteVm($vmId: ID!) {
    deleteVm(input: { vmId: $vmId }) {
      __typename
      ... on VmOperationSuccess { vm { id status } devices { id status } }
      ... on Error { message }
    }
  }
`);

/** Power and teardown of one VM; each keeps its own error for the button that caused it. */
export class VmCommands {
  start = new Action(StartVm);
  stop = new Action(StopVm);
  remove = new Action(DeleteVm);

  /** The last power error, shown beside Start/Stop. */
  get powerError() {
    return this.start.error ?? this.stop.error;
  }
}
