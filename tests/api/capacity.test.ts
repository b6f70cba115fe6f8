import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sql } from 'drizzle-orm';
import { graphql, type VariablesOf } from '../../protocol/graphql.ts';
import { member } from '../support/client.ts';
import { fakeHardware } from '../support/agent.ts';
import { Seed, type SeededCluster } from '../support/seed.ts';
import { startTestServer, type TestServer } from '../support/server.ts';
import { queryRows, stateSnapshot } from '../support/snapshot.ts';

// Placement counts each host's cores and memory against its live VMs: memory is never
// overcommitted (passthrough pins all guest memory), cores up to the CPUs times
// PASSTHRU_CPU_ALLOCATION_RATIO; the vms_fit_host trigger holds it under concurrency too.

const PROVISION = graphql(`mutation($input: ProvisionVmInput!) {
  provisionVm(input: $input) {
    __typename
    ... on VmOperationSuccess { vm { id name host { name } } }
    ... on NoCapacityError { message requiredGpus requiredCores requiredMemoryMb free { hostName freeGpus freeCores freeMemoryMb short } }
    ... on Error { message }
  }
}`);

const CAPACITY = graphql(`query($p: ID!, $h: ID, $c: ID) {
  capacity(planId: $p, hostId: $h, clusterId: $c) { fits host { name } fitsOn { hostName } freeByHost { hostName freeGpus freeCores freeMemoryMb short } }
}`);
const HOST_NAME = graphql(`query($id: ID!) { host(id: $id) { name } }`);

const GIB = 1024;
const rawId = (globalId: string) => Buffer.from(globalId, 'base64').toString().split(':')[1]!;
const unique = (prefix: string) => `${prefix}-${Math.random().toString(36).slice(2, 8)}`;

let server: TestServer;
let seed: Seed;

beforeAll(async () => {
  server = await startTestServer();
  seed = new Seed(server.client, server.url);
});
afterAll(() => server.stop());

/** A host with the given CPUs and memory whose agent holds every operation, so what it was given stays as given. */
async function host(cluster: SeededCluster, facts: { cpuCores: number; memoryMb: number }, devices = fakeHardware({ usb: 1 })) {
  const made = await cluster.host({ name: unique('host'), devices, facts });
  made.agent.respond = () => 'hold';
  return made;
}

const provision = async (input: VariablesOf<typeof PROVISION>['input']) => (await server.client.data(PROVISION, { input })).provisionVm;

/** A refused provision changes nothing on its host. */
async function expectRefused(hostId: string, input: VariablesOf<typeof PROVISION>['input']) {
  const before = await stateSnapshot(server.app.database.db, rawId(hostId));
  const result = await provision(input);
  expect(result.__typename, 'message' in result ? result.message : undefined).toBe('NoCapacityError');
  expect(await stateSnapshot(server.app.database.db, rawId(hostId))).toEqual(before);
  return member(result, 'NoCapacityError');
}

describe('capacity counts cores and memory', () => {
  it("three VMs of a 1,024-core, 4 TiB plan are refused on a 16-core, 64 GiB host, naming its cores and memory (issue 12's reproduction)", async () => {
    const cluster = await seed.cluster(unique('huge'));
    const clusterId = cluster.id;
    const { id: hostId, agent } = await host(cluster, { cpuCores: 16, memoryMb: 64 * GIB });
    const { id: planId } = await seed.plan({ name: unique('huge'), cores: 1024, memoryMb: 4096 * GIB, gpuCount: 0 });
    for (const name of ['huge-1', 'huge-2', 'huge-3']) {
      const refused = await expectRefused(hostId, { name, planId, clusterId });
      expect(refused).toMatchObject({
        requiredCores: 1024,
        requiredMemoryMb: 4096 * GIB,
        free: [{ freeGpus: 0, freeCores: 64, freeMemoryMb: 64 * GIB, short: ['CORES', 'MEMORY'] }],
      });
      expect(refused.message).toMatch(/short of cores \(64 free, 1024 needed\) and memory \(65536 MiB free, 4194304 MiB needed\)/);
    }
    const { capacity } = await server.client.data(CAPACITY, { p: planId, c: clusterId });
    expect(capacity).toMatchObject({ fits: false, host: null, fitsOn: [], freeByHost: [{ short: ['CORES', 'MEMORY'] }] });
    await agent.disconnect();
  });

  it("a provision that would overcommit a host's memory is refused with NoCapacityError naming memory", async () => {
    const cluster = await seed.cluster(unique('memory'));
    const { id: hostId, agent } = await host(cluster, { cpuCores: 64, memoryMb: 64 * GIB });
    const { id: planId } = await seed.plan({ name: unique('memory'), cores: 4, memoryMb: 24 * GIB, gpuCount: 0 });
    for (const name of ['mem-1', 'mem-2']) expect((await provision({ name, planId, hostId })).__typename).toBe('VmOperationSuccess');

    const refused = await expectRefused(hostId, { name: 'mem-3', planId, hostId });
    expect(refused.free).toEqual([expect.objectContaining({ freeMemoryMb: 16 * GIB, freeCores: 256 - 8, short: ['MEMORY'] })]);
    expect(refused.message).toMatch(/is short of memory \(16384 MiB free, 24576 MiB needed\)/);
    const { capacity } = await server.client.data(CAPACITY, { p: planId, h: hostId });
    expect(capacity).toMatchObject({ fits: false, host: null, fitsOn: [], freeByHost: [{ freeMemoryMb: 16 * GIB, short: ['MEMORY'] }] });
    await agent.disconnect();
  });

  it("a host's cores are allocated up to its CPUs times PASSTHRU_CPU_ALLOCATION_RATIO (4 by default)", async () => {
    const cluster = await seed.cluster(unique('cores'));
    const { id: hostId, agent } = await host(cluster, { cpuCores: 16, memoryMb: 512 * GIB });
    const { id: planId } = await seed.plan({ name: unique('cores'), cores: 32, memoryMb: GIB, gpuCount: 0 });
    // 16 CPUs x 4 = 64 cores: two VMs of 32.
    for (const name of ['cores-1', 'cores-2']) expect((await provision({ name, planId, hostId })).__typename).toBe('VmOperationSuccess');
    const refused = await expectRefused(hostId, { name: 'cores-3', planId, hostId });
    expect(refused.free).toEqual([expect.objectContaining({ freeCores: 0, short: ['CORES'] })]);
    expect(refused.message).toMatch(/is short of cores \(0 free, 32 needed\)/);
    await agent.disconnect();
  });

  it('a configured CPU allocation ratio is honoured (1.5: a 16-CPU host gives 24 cores)', async () => {
    const strict = await startTestServer({ config: { cpuAllocationRatio: 1.5 } });
    try {
      const strictSeed = new Seed(strict.client, strict.url);
      const cluster = await strictSeed.cluster('ratio');
      const { id: hostId, agent } = await cluster.host({ name: 'ratio-host', usb: 1, facts: { cpuCores: 16, memoryMb: 512 * GIB } });
      const { id: planId } = await strictSeed.plan({ name: 'twelve-cores', cores: 12, memoryMb: GIB, gpuCount: 0 });
      const outcomes = [];
      for (const name of ['ratio-1', 'ratio-2', 'ratio-3']) outcomes.push((await strict.client.data(PROVISION, { input: { name, planId, hostId } })).provisionVm);
      expect(outcomes.map((outcome) => outcome.__typename)).toEqual(['VmOperationSuccess', 'VmOperationSuccess', 'NoCapacityError']);
      expect(member(outcomes[2]!, 'NoCapacityError').free).toEqual([expect.objectContaining({ freeCores: 0, short: ['CORES'] })]);
      await agent.disconnect();
    } finally {
      await strict.stop();
    }
  });

  it('a GPU plan goes to a host with its cores and memory left, even when a host with fewer free GPUs ranks first', async () => {
    const cluster = await seed.cluster(unique('gpu-room'));
    const clusterId = cluster.id;
    // The small host ranks first for one GPU (fewest free), but has too little memory.
    const small = await host(cluster, { cpuCores: 64, memoryMb: 16 * GIB }, fakeHardware({ gpus: 1 }));
    const large = await host(cluster, { cpuCores: 64, memoryMb: 512 * GIB }, fakeHardware({ gpus: 4 }));
    const { id: planId } = await seed.plan({ name: unique('gpu-room'), gpuCount: 1, cores: 8, memoryMb: 32 * GIB });
    const largeName = (await server.client.data(HOST_NAME, { id: large.id })).host!.name;
    const { capacity } = await server.client.data(CAPACITY, { p: planId, c: clusterId });
    expect(capacity).toMatchObject({ fits: true, host: { name: largeName }, fitsOn: [{ hostName: largeName }] });
    const placed = await provision({ name: unique('gpu-room'), planId, clusterId });
    expect(placed).toMatchObject({ __typename: 'VmOperationSuccess', vm: { host: { name: largeName } } });
    await small.agent.disconnect();
    await large.agent.disconnect();
  });

  it('a host whose agent has not reported its cores and memory takes no VM, and the refusal says so', async () => {
    const cluster = await seed.cluster(unique('unreported'));
    const { id: hostId, agent } = await host(cluster, { cpuCores: 64, memoryMb: 512 * GIB });
    await server.app.database.db.execute(sql`update hosts set cpu_cores = null, memory_mb = null where id = ${rawId(hostId)}`);
    const { id: planId } = await seed.plan({ name: unique('unreported'), cores: 1, memoryMb: 64, gpuCount: 0 });
    const refused = await expectRefused(hostId, { name: 'unreported-1', planId, hostId });
    expect(refused.free).toEqual([expect.objectContaining({ freeCores: null, freeMemoryMb: null, short: ['CORES', 'MEMORY'] })]);
    expect(refused.message).toMatch(/has not reported its cores and memory/);
    await agent.disconnect();
  });

  it('the database refuses a VM its host cannot hold (the vms_fit_host trigger), whoever inserts it', async () => {
    const cluster = await seed.cluster(unique('trigger'));
    const { id: hostId, agent } = await host(cluster, { cpuCores: 4, memoryMb: 8 * GIB });
    const insert = (name: string, memoryMb: number) =>
      server.app.database.db.execute(sql`insert into vms (name, host_id, cores, memory_mb, disk_gb, status) values (${name}, ${rawId(hostId)}, 1, ${memoryMb}, 0, 'RUNNING')`);
    await insert('raw-fits', 8 * GIB);
    const refusal = await insert('raw-too-much', 1).then(
      () => null,
      (error: unknown) => error,
    );
    const cause = refusal instanceof Error && refusal.cause instanceof Error ? refusal.cause : refusal;
    expect(cause).toMatchObject({ code: 'PT507' });
    expect(String(cause)).toMatch(/does not fit host .*: short of MEMORY/);
    expect(await queryRows(server.app.database.db, sql`select name from vms where host_id = ${rawId(hostId)}`)).toEqual([{ name: 'raw-fits' }]);
    await agent.disconnect();
  });
});

describe('concurrent provisions never together overcommit a host', () => {
  it("12 concurrent provisions of 16 GiB on one 64 GiB host: 4 succeed, 8 get NoCapacityError naming memory, and the host's VMs fit it", async () => {
    const cluster = await seed.cluster(unique('race-memory'));
    const { id: hostId, agent } = await host(cluster, { cpuCores: 256, memoryMb: 64 * GIB });
    const { id: planId } = await seed.plan({ name: unique('race-memory'), cores: 1, memoryMb: 16 * GIB, gpuCount: 0 });
    const results = await Promise.all(Array.from({ length: 12 }, (_, i) => provision({ name: `race-mem-${i}`, planId, hostId })));
    const outcomes = results.map((result) => result.__typename);
    expect(outcomes.filter((typename) => typename === 'VmOperationSuccess')).toHaveLength(4);
    const refused = results.filter((result) => result.__typename === 'NoCapacityError');
    expect(refused).toHaveLength(8);
    for (const refusal of refused) expect(refusal.free).toEqual([expect.objectContaining({ short: ['MEMORY'] })]);
    const [used] = await queryRows<{ memory: number }>(server.app.database.db, sql`select coalesce(sum(memory_mb), 0)::int as memory from vms where host_id = ${rawId(hostId)} and status <> 'DELETED'`);
    expect(used!.memory).toBe(64 * GIB);
    await agent.disconnect();
  });

  it('16 concurrent one-GPU provisions of 32 GiB on two 64 GiB hosts with 4 GPUs each: only 4 fit, 2 per host', async () => {
    const cluster = await seed.cluster(unique('race-gpu'));
    const clusterId = cluster.id;
    const made = [];
    for (let i = 0; i < 2; i++) made.push(await host(cluster, { cpuCores: 64, memoryMb: 64 * GIB }, fakeHardware({ gpus: 4, numaNodes: 2 })));
    const { id: planId } = await seed.plan({ name: unique('race-gpu'), gpuCount: 1, cores: 4, memoryMb: 32 * GIB });
    const results = await Promise.all(Array.from({ length: 16 }, (_, i) => provision({ name: `race-gpu-${i}`, planId, clusterId })));
    expect(results.filter((result) => result.__typename === 'VmOperationSuccess')).toHaveLength(4);
    expect(results.filter((result) => result.__typename === 'NoCapacityError')).toHaveLength(12);
    const perHost = await queryRows<{ host_id: string; memory: number }>(
      server.app.database.db,
      sql`select host_id, sum(memory_mb)::int as memory from vms where host_id in (${rawId(made[0]!.id)}, ${rawId(made[1]!.id)}) and status <> 'DELETED' group by host_id`,
    );
    expect(perHost.map((row) => row.memory)).toEqual([64 * GIB, 64 * GIB]);
    for (const { agent } of made) await agent.disconnect();
  });
});
