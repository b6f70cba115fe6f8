import type { TadaDocumentNode } from 'gql.tada';
import { graphql, type VariablesOf } from './graphql.ts';

// Building a fleet through the public API: the documents every client that sets one up shares
// (the demo, the tests' seed builder, the benchmarks, the console's enroll modal), and the
// calls over them. Each client brings its own transport as a `Send`.

export const ClustersQuery = graphql(`
  query Clusters {
    clusters { id name }
  }
`);

export const CreateCluster = graphql(`
  mutation CreateCluster($input: CreateClusterInput!) {
    createCluster(input: $input) {
      __typename
      ... on Cluster { id name }
      ... on Error { message }
    }
  }
`);

/** A page of hosts with their cluster: the demo finds its hosts by name here. */
export const HostsPage = graphql(`
  query HostsPage($after: String) {
    hosts(first: 100, after: $after) {
      nodes { id name cluster { name } }
      pageInfo { hasNextPage endCursor }
    }
  }
`);

export const EnrollHost = graphql(`
  mutation EnrollHost($input: EnrollHostInput!) {
    enrollHost(input: $input) {
      __typename
      ... on EnrollHostSuccess { token host { id name } }
      ... on Error { message }
    }
  }
`);

export const RotateHostToken = graphql(`
  mutation RotateHostToken($hostId: ID!) {
    rotateHostToken(input: { hostId: $hostId }) {
      __typename
      ... on EnrollHostSuccess { token host { id name } }
      ... on Error { message }
    }
  }
`);

export const ServicePlansQuery = graphql(`
  query ServicePlans {
    servicePlans { id name }
  }
`);

export const CreateServicePlan = graphql(`
  mutation CreateServicePlan($input: CreateServicePlanInput!) {
    createServicePlan(input: $input) {
      __typename
      ... on ServicePlan { id name }
      ... on Error { message }
    }
  }
`);

export type ServicePlanInput = VariablesOf<typeof CreateServicePlan>['input'];

/** Sends one document and answers its data, failing on GraphQL errors; each client brings its own transport. */
export type Send = <Result, Variables extends Record<string, unknown>>(document: TadaDocumentNode<Result, Variables>, variables: Variables) => Promise<Result>;

/** The member of a result union named `typename`; any other member (a typed error) is thrown with its message, as a setup script cannot go on without it. */
export function expectType<Result extends { __typename: string }, Typename extends Result['__typename']>(result: Result, typename: Typename, doing: string): Extract<Result, { __typename: Typename }> {
  if (isType(result, typename)) return result;
  throw new Error(`${doing}: ${'message' in result ? String(result.message) : result.__typename}`);
}

function isType<Result extends { __typename: string }, Typename extends string>(result: Result, typename: Typename): result is Extract<Result, { __typename: Typename }> {
  return result.__typename === typename;
}

export async function createCluster(send: Send, name: string) {
  const { createCluster } = await send(CreateCluster, { input: { name } });
  return expectType(createCluster, 'Cluster', `cannot create cluster ${name}`);
}

/** A new host in the cluster and its agent token (shown only in this answer). */
export async function enrollHost(send: Send, clusterId: string, name: string) {
  const { enrollHost } = await send(EnrollHost, { input: { clusterId, name } });
  const { token, host } = expectType(enrollHost, 'EnrollHostSuccess', `cannot enroll ${name}`);
  return { ...host, token };
}

/** A fresh token for an enrolled host (tokens are shown once, so a restarted script needs a new one); the old one stops working. */
export async function rotateHostToken(send: Send, hostId: string) {
  const { rotateHostToken } = await send(RotateHostToken, { hostId });
  const { token, host } = expectType(rotateHostToken, 'EnrollHostSuccess', `cannot rotate the token of host ${hostId}`);
  return { ...host, token };
}

export async function createServicePlan(send: Send, input: ServicePlanInput) {
  const { createServicePlan } = await send(CreateServicePlan, { input });
  return expectType(createServicePlan, 'ServicePlan', `cannot create plan ${input.name}`);
}
