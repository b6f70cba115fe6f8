import { graphql, type ResultOf } from '../../protocol/graphql.ts';
import { createCluster, createServicePlan, enrollHost, type Send, type ServicePlanInput } from '../../protocol/fleet.ts';
import { fakeHardware, TestAgent, type FakeDevice } from './agent.ts';
import type { TestClient } from './client.ts';

const HostDevices = graphql(`
  query SeedHostDevices($id: ID!) {
    host(id: $id) {
      devices(first: 500) { nodes { id address kind status driver iommuGroup numaNode vm { id name } } }
    }
  }
`);

const DeviceQuery = graphql(`
  query SeedDevice($id: ID!) {
    node(id: $id) {
      __typename
      ... on Device { id status address vm { id name } }
    }
  }
`);

export type SeededDevice = NonNullable<ResultOf<typeof HostDevices>['host']>['devices']['nodes'][number];

/** A host as an operator enrolls it: its ID and name, and the agent token shown once. */
export type EnrolledHost = Awaited<ReturnType<typeof enrollHost>>;

/** An enrolled host whose agent (a TestAgent) has reported its inventory and listens for operations. */
export interface SeededHost extends EnrolledHost {
  agent: TestAgent;
}

/**
 * The host to enroll: its name (unique unless given), its hardware (`devices` as given, else
 * `fakeHardware(spec)`) and any facts besides the default 64 CPUs, 512 GiB.
 */
export type HostSpec = NonNullable<Parameters<typeof fakeHardware>[0]> & {
  name?: string;
  devices?: FakeDevice[];
  facts?: Partial<TestAgent['facts']>;
};

export const unique = (prefix: string) => `${prefix}-${Math.random().toString(36).slice(2, 8)}`;

/**
 * Builds a fleet through the public API, so tests read like what an operator does:
 * `const host = await seed.cluster().host({ name: 'gpu-a', gpus: 4 })`.
 */
export class Seed {
  readonly #send: Send;

  constructor(
    readonly client: TestClient,
    /** Where the seeded hosts' agents connect. */
    readonly agentUrl: string = client.url,
  ) {
    this.#send = (document, variables) => client.data(document, variables);
  }

  /** A new cluster; `.host()` and `.enroll()` can follow without awaiting it first. */
  cluster(name = unique('cluster')): PendingCluster {
    const created = createCluster(this.#send, name).then((cluster) => new SeededCluster(this, this.#send, cluster.id, cluster.name));
    return Object.assign(created, {
      host: (spec?: HostSpec) => created.then((cluster) => cluster.host(spec)),
      enroll: (hostName?: string) => created.then((cluster) => cluster.enroll(hostName)),
    });
  }

  /** A service plan: KVM, 8 cores, 32 GiB, 100 GB and no GPU unless `spec` says otherwise. */
  plan(spec: Partial<ServicePlanInput> = {}) {
    return createServicePlan(this.#send, { name: unique('plan'), provisionType: 'KVM', cores: 8, memoryMb: 32768, diskGb: 100, ...spec });
  }

  devices(hostId: string): Promise<SeededDevice[]> {
    return hostDevices(this.client, hostId);
  }

  deviceAt(hostId: string, address: string): Promise<SeededDevice> {
    return deviceAt(this.client, hostId, address);
  }

  async device(id: string) {
    const { node } = await this.client.data(DeviceQuery, { id });
    if (node?.__typename !== 'Device') throw new Error(`no device ${id}`);
    return node;
  }
}

/** A host's devices as `client` sees them (no more than 500). */
export async function hostDevices(client: TestClient, hostId: string): Promise<SeededDevice[]> {
  const { host } = await client.data(HostDevices, { id: hostId });
  return host?.devices.nodes ?? [];
}

export async function deviceAt(client: TestClient, hostId: string, address: string): Promise<SeededDevice> {
  const device = (await hostDevices(client, hostId)).find((d) => d.address === address);
  if (!device) throw new Error(`no device at ${address}`);
  return device;
}

export type PendingCluster = Promise<SeededCluster> & Pick<SeededCluster, 'host' | 'enroll'>;

export class SeededCluster {
  constructor(
    private readonly seed: Seed,
    private readonly send: Send,
    readonly id: string,
    readonly name: string,
  ) {}

  /** Enrolls a host without an agent, for a test that starts its own. */
  enroll(name = unique('host')): Promise<EnrolledHost> {
    return enrollHost(this.send, this.id, name);
  }

  /** Enrolls a host, reports its hardware as its agent and connects the agent's operation stream. */
  async host(spec: HostSpec = {}): Promise<SeededHost> {
    const { name, devices, facts, ...hardware } = spec;
    const enrolled = await this.enroll(name);
    const agent = new TestAgent(this.seed.agentUrl, enrolled.token, devices ?? fakeHardware(hardware));
    agent.facts = { ...agent.facts, ...facts };
    await agent.reportInventory();
    await agent.connect();
    return { ...enrolled, agent };
  }
}
