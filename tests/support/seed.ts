import { TestAgent, type FakeDevice } from './agent.ts';
import type { TestClient } from './client.ts';

/** Builds a fleet through the public API, so tests read like what an operator does. */
export class Seed {
  constructor(
    private readonly client: TestClient,
    private readonly url: string,
  ) {}

  async cluster(name = `cluster-${Math.random().toString(36).slice(2, 8)}`): Promise<string> {
    const { createCluster } = await this.client.data(
      `mutation($name: String!) { createCluster(input: { name: $name }) { ... on Cluster { id } ... on Error { message } } }`,
      { name },
    );
    if (!createCluster.id) throw new Error(createCluster.message);
    return createCluster.id;
  }

  /** Enrolls a host, reports its hardware (and any facts besides the default 64 CPUs, 512 GiB) as its agent and connects the agent's operation stream. */
  async host(clusterId: string, name: string, hardware: FakeDevice[], facts: Partial<TestAgent['facts']> = {}) {
    const { enrollHost } = await this.client.data(
      `mutation($input: EnrollHostInput!) { enrollHost(input: $input) { ... on EnrollHostSuccess { token host { id } } ... on Error { message } } }`,
      { input: { name, clusterId } },
    );
    if (!enrollHost.token) throw new Error(enrollHost.message);
    const agent = new TestAgent(this.url, enrollHost.token, hardware);
    agent.facts = { ...agent.facts, ...facts };
    await agent.reportInventory();
    await agent.connect();
    return { hostId: enrollHost.host.id as string, token: enrollHost.token as string, agent };
  }

  async plan(input: Record<string, unknown>): Promise<string> {
    const { createServicePlan } = await this.client.data(
      `mutation($input: CreateServicePlanInput!) { createServicePlan(input: $input) { __typename ... on ServicePlan { id } ... on Error { message } } }`,
      { input: { provisionType: 'KVM', cores: 8, memoryMb: 32768, diskGb: 100, ...input } },
    );
    if (!createServicePlan.id) throw new Error(createServicePlan.message);
    return createServicePlan.id;
  }

  async devices(hostId: string): Promise<{ id: string; address: string; kind: string; status: string; vm: { id: string } | null }[]> {
    const { host } = await this.client.data(`query($id: ID!) { host(id: $id) { devices(first: 500) { nodes { id address kind status vm { id } } } } }`, { id: hostId });
    return host.devices.nodes;
  }

  async device(id: string): Promise<{ id: string; status: string; vm: { id: string; name: string } | null; address: string }> {
    const { node } = await this.client.data(`query($id: ID!) { node(id: $id) { ... on Device { id status address vm { id name } } } }`, { id });
    return node;
  }
}
