import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { graphql } from '../../protocol/graphql.ts';
import { eventually, member, type Document } from '../support/client.ts';
import { Seed, type SeededCluster } from '../support/seed.ts';
import { startTestServer, type TestServer } from '../support/server.ts';
import { insertFleet } from '../support/fleet.ts';

const HOUR = 60 * 60 * 1000;

const NESTED = graphql(`{
  hosts(first: 100) {
    nodes {
      name
      status
      cluster { name }
      devices(first: 10) { nodes { address status vm { name status plan { name } } } }
      vms(first: 5) { nodes { name devices(first: 4) { nodes { address } } } }
    }
  }
}`);
const TYPENAME = graphql(`{ __typename }`);
const PROVISION = graphql(`mutation($input: ProvisionVmInput!) { provisionVm(input: $input) { __typename ... on VmOperationSuccess { vm { id } } } }`);
const VM_STATUS = graphql(`query($id: ID!) { vm(id: $id) { status } }`);
const POOL = graphql(`{ pool { byKind { kind total } byModel { name total } } }`);

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

  /**
   * The statements one run of `query` costs. On PostgreSQL the change feed may still be loading
   * what the agents just reported while a run is counted, so the least of three runs is taken.
   */
  async function countStatements<Result>(query: Document<Result, {}>) {
    let least = Infinity;
    let data!: Result;
    for (let run = 0; run < 3; run++) {
      // Presented just before, as by a client polling: the token's principal is cached.
      await server.client.data(TYPENAME);
      statements = 0;
      counting = true;
      data = await server.client.data(query);
      counting = false;
      least = Math.min(least, statements);
    }
    return { statements: least, data };
  }

  async function addHostsWithAssignedGpus(cluster: SeededCluster, planId: string, names: string[]) {
    for (const name of names) {
      const { id: hostId, agent } = await cluster.host({ name: name, gpus: 2, usb: 1 });
      const { provisionVm } = await server.client.data(PROVISION, { input: { name: `vm-${name}`, planId, hostId } });
      const { vm } = member(provisionVm, 'VmOperationSuccess');
      await eventually(async () => (await server.client.data(VM_STATUS, { id: vm.id })).vm!.status === 'RUNNING');
      await agent.disconnect();
    }
  }

  it('hosts -> devices -> vm costs the same number of SQL statements for 2 hosts as for 8', async () => {
    const cluster = await seed.cluster('n-plus-one');
    const { id: planId } = await seed.plan({ name: 'one-gpu', gpuCount: 1 });
    await addHostsWithAssignedGpus(cluster, planId, ['h1', 'h2']);
    const small = await countStatements(NESTED);
    expect(small.data.hosts.nodes).toHaveLength(2);

    await addHostsWithAssignedGpus(cluster, planId, ['h3', 'h4', 'h5', 'h6', 'h7', 'h8']);
    const large = await countStatements(NESTED);
    expect(large.data.hosts.nodes).toHaveLength(8);
    expect(large.data.hosts.nodes[7]!.devices.nodes.filter((d) => d.vm)).toHaveLength(1);

    // What a request costs to authenticate, measured rather than assumed: nothing, once cached.
    const { statements: perRequest } = await countStatements(TYPENAME);
    expect(perRequest).toBe(0);
    expect(large.statements).toBe(small.statements);
    expect(large.statements).toBeLessThanOrEqual(2);
  });
});

// The console's overview: every host with its devices and their VMs, and the pool at a glance.
const DASHBOARD = graphql(`{
  hosts(first: 500) { nodes { name status devices(first: 8) { nodes { address status vm { name status } } } pool { kind free total } } }
  pool {
    byKind { kind free assigned attached busy missing total }
    byModel { kind vendorId productId name free assigned total }
  }
}`);

describe('the SQL carries only what the query asks for, never secrets, in at most 2 statements whatever the fleet size', () => {
  let server: TestServer;
  let sql: string[] | null = null;

  beforeAll(async () => {
    server = await startTestServer({
      config: { sweepIntervalMs: HOUR, changePollMs: HOUR, heartbeatFlushIntervalMs: HOUR },
      onQuery: (statement) => sql?.push(statement),
    });
  });
  afterAll(() => server.stop());

  async function dashboard() {
    // Signed in just before, as a console polling its overview is: the principal is cached.
    await server.client.data(TYPENAME);
    sql = [];
    const data = await server.client.data(DASHBOARD);
    const statements = sql;
    sql = null;
    return { statements, data };
  }

  it('the dashboard costs the same at 8 hosts as at 512, at most 2 statements, none naming token_hash', async () => {
    await insertFleet(server.app.database.db, 'small', 8);
    const small = await dashboard();
    expect(small.data.hosts.nodes).toHaveLength(8);
    expect(small.data.hosts.nodes[0]!.pool).toEqual([{ kind: 'GPU', free: 3, total: 4 }, { kind: 'USB', free: 0, total: 1 }, { kind: 'NVME', free: 0, total: 1 }]);

    await insertFleet(server.app.database.db, 'large', 504);
    const large = await dashboard();
    // A page is at most 500 hosts; the pool counts all 512.
    expect(large.data.hosts.nodes).toHaveLength(500);
    expect(large.data.hosts.nodes[499]!.devices.nodes.find((d) => d.vm)!.vm).toEqual({ name: 'vm-large-0499', status: 'RUNNING' });
    expect(large.data.pool.byKind.find((k) => k.kind === 'GPU')).toEqual({
      kind: 'GPU', free: 512 * 3, assigned: 512, attached: 0, busy: 0, missing: 0, total: 512 * 4,
    });

    expect(large.statements.length).toBe(small.statements.length);
    expect(large.statements.length).toBeLessThanOrEqual(2);
    expect([...small.statements, ...large.statements].filter((statement) => /token_hash/i.test(statement))).toEqual([]);
  });

  it('pool is counted in SQL: one grouped statement, whatever the fleet', async () => {
    await server.client.data(TYPENAME);
    sql = [];
    const { pool } = await server.client.data(POOL);
    const statements = sql;
    sql = null;
    expect(statements).toHaveLength(1);
    expect(statements[0]).toMatch(/grouping sets/i);
    expect(statements[0]).toMatch(/filter \(where/i);
    expect(pool.byModel[0]).toEqual({ name: 'GH100 [H100 SXM5 80GB]', total: 512 * 4 });
  });

  it('columns a query does not ask for are not selected', async () => {
    const { statements } = await dashboard();
    const hostsStatement = statements.find((statement) => /from "hosts"/.test(statement) && /"devices"/.test(statement));
    expect(hostsStatement).toBeDefined();
    for (const unasked of ['cpu_cores', 'memory_mb', 'last_seen_at', 'vendor_name', 'serial', 'iommu_group', 'driver']) {
      expect(hostsStatement).not.toContain(`"${unasked}"`);
    }
  });
});
