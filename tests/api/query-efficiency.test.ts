import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fakeHardware } from '../support/agent.ts';
import { eventually } from '../support/client.ts';
import { Seed } from '../support/seed.ts';
import { startTestServer, type TestServer } from '../support/server.ts';

const NESTED = `{
  hosts(first: 100) {
    nodes {
      name
      status
      cluster { name }
      devices { address status vm { name status plan { name } } }
      vms { name devices { address } }
    }
  }
}`;

describe('nested queries', () => {
  let server: TestServer;
  let seed: Seed;
  let counting = false;
  let statements = 0;

  beforeAll(async () => {
    server = await startTestServer({
      // No background sweeps while statements are being counted.
      config: { sweepIntervalMs: 60 * 60 * 1000, changePollMs: 60 * 60 * 1000, heartbeatFlushIntervalMs: 60 * 60 * 1000 },
      onQuery: () => {
        if (counting) statements++;
      },
    });
    seed = new Seed(server.client, server.url);
  });
  afterAll(() => server.stop());

  async function countStatements(query: string) {
    statements = 0;
    counting = true;
    const data = await server.client.data(query);
    counting = false;
    return { statements, data };
  }

  async function addHostsWithAssignedGpus(clusterId: string, planId: string, names: string[]) {
    for (const name of names) {
      const { hostId, agent } = await seed.host(clusterId, name, fakeHardware({ gpus: 2, usb: 1 }));
      const { provisionVm } = await server.client.data(
        `mutation($input: ProvisionVmInput!) { provisionVm(input: $input) { ... on VmOperationSuccess { vm { id } } } }`,
        { input: { name: `vm-${name}`, planId, hostId } },
      );
      await eventually(async () => (await server.client.data(`query($id: ID!) { vm(id: $id) { status } }`, { id: provisionVm.vm.id })).vm.status === 'RUNNING');
      await agent.disconnect();
    }
  }

  it('hosts -> devices -> vm costs the same number of SQL statements for 2 hosts as for 8', async () => {
    const clusterId = await seed.cluster('n-plus-one');
    const planId = await seed.plan({ name: 'one-gpu', gpuCount: 1 });
    await addHostsWithAssignedGpus(clusterId, planId, ['h1', 'h2']);
    const small = await countStatements(NESTED);
    expect(small.data.hosts.nodes).toHaveLength(2);

    await addHostsWithAssignedGpus(clusterId, planId, ['h3', 'h4', 'h5', 'h6', 'h7', 'h8']);
    const large = await countStatements(NESTED);
    expect(large.data.hosts.nodes).toHaveLength(8);
    expect(large.data.hosts.nodes[7].devices.filter((d: { vm: unknown }) => d.vm)).toHaveLength(1);

    // What any request costs to authenticate, measured rather than assumed.
    const { statements: perRequest } = await countStatements('{ __typename }');
    expect(large.statements).toBe(small.statements);
    expect(large.statements - perRequest).toBeLessThanOrEqual(2);
  });
});
