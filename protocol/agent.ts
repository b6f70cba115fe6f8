// The agent's side of the API: every document a host agent sends, and the report types derived
// from their variables and results. The agent (agent/), the demo and the tests' TestAgent all
// speak through these, so a schema change that breaks an agent fails `tsc`.

import { graphql, type ResultOf, type VariablesOf } from './graphql.ts';

/**
 * What the agent needs of an operation to carry it out. The devices are an IOMMU group or a
 * plan's GPUs, far under the page asked for; their IDs let tests tell operations apart.
 */
export const AGENT_OPERATION_FIELDS = graphql(`
  fragment AgentOperationFields on Operation {
    id
    type
    status
    devices(first: 500) { nodes { id kind address vendorId productId } }
    vm { name cores memoryMb diskGb }
  }
`);

/** This host's operations: on subscribe every unfinished one is replayed, then new ones stream. */
export const AGENT_OPERATIONS = graphql(
  `
  subscription AgentOperations { agentOperations { ...AgentOperationFields } }
`,
  [AGENT_OPERATION_FIELDS],
);

export const REPORT_INVENTORY = graphql(`
  mutation ReportInventory($input: ReportInventoryInput!) {
    reportInventory(input: $input) { __typename ... on Host { id name } ... on Error { message } }
  }
`);

export const HEARTBEAT = graphql(`
  mutation Heartbeat { heartbeat { __typename ... on Error { message } } }
`);

// The answer's __typename is all an accepted acknowledgement needs: asking for the operation's
// fields would make the server read the row it has just written once more.
export const START_OPERATION = graphql(`
  mutation StartOperation($input: StartOperationInput!) {
    startOperation(input: $input) { __typename ... on OperationFinishedError { finishedStatus: status } ... on Error { message } }
  }
`);

export const COMPLETE_OPERATION = graphql(`
  mutation CompleteOperation($input: CompleteOperationInput!) {
    completeOperation(input: $input) { __typename ... on OperationFinishedError { finishedStatus: status } ... on Error { message } }
  }
`);

export type InventoryReport = VariablesOf<typeof REPORT_INVENTORY>['input'];
/** One device as an agent reports it; the fields the host cannot tell may be left out (null). */
export type ReportedDevice = InventoryReport['devices'][number];
/** A libvirt domain as the hypervisor really has it, with its power state and passthrough devices. */
export type ReportedVm = NonNullable<InventoryReport['vms']>[number];
export type HostFacts = InventoryReport['facts'];
export type DeviceKind = ReportedDevice['kind'];

export type OperationOutcome = VariablesOf<typeof COMPLETE_OPERATION>['input'];
/** One device as the host sees it once an operation has ended: what completeOperation carries. */
export type ObservedDevice = NonNullable<OperationOutcome['devices']>[number];

/** An operation as the agentOperations subscription delivers it. */
export type AgentOperation = ResultOf<typeof AGENT_OPERATIONS>['agentOperations'];
export type OperationType = AgentOperation['type'];

/** Every answer an agent's mutation can get: the members of their result unions. */
export type AgentAnswer =
  | ResultOf<typeof REPORT_INVENTORY>['reportInventory']
  | ResultOf<typeof HEARTBEAT>['heartbeat']
  | ResultOf<typeof START_OPERATION>['startOperation']
  | ResultOf<typeof COMPLETE_OPERATION>['completeOperation'];
