import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sql } from 'drizzle-orm';
import { fakeHardware } from '../support/agent.ts';
import { graphql } from '../../protocol/graphql.ts';
import { eventually, member } from '../support/client.ts';
import { Seed } from '../support/seed.ts';
import { startTestServer, type TestServer } from '../support/server.ts';
import { queryRows } from '../support/snapshot.ts';

const PROVISION = graphql(`mutation($input: ProvisionVmInput!) {
  provisionVm(input: $input) {
    __typename
    ... on VmOperationSuccess { vm { id name status host { name } } devices { id address status numaNode } operation { type } }
    ... on NoCapacityError { message requiredGpus free { hostName freeGpus } }
    ... on Error { message }
  }
}`);
const VM_STATUS = graphql(`query($id: ID!) { vm(id: $id) { status devices { nodes { id status } } } }`);
const CAPACITY_IN_CLUSTER = graphql(`query($p: ID!, $c: ID!) { capacity(planId: $p, clusterId: $c) { fits host { name } gpus { address numaNode } numaNodesSpanned fitsOn { hostName freeGpus } } }`);
const POOL = graphql(`{ pool { byKind { kind free assigned total } byModel(kind: GPU) { name vendorName free assigned } } }`);
const DELETE_VM = graphql(`mutation($id: ID!) { deleteVm(input: { vmId: $id }) { __typename ... on VmOperationSuccess { vm { status } devices { id status } } } }`);
const FREE_BY_HOST = graphql(`query($p: ID!, $c: ID!) { capacity(planId: $p, clusterId: $c) { fits host { name } gpus { id } fitsOn { hostName } freeByHost { hostName freeGpus } } }`);
const CAPACITY_HOST = graphql(`query($p: ID!, $c: ID!) { capacity(planId: $p, clusterId: $c) { host { name } } }`);
const DETACH = graphql(`mutation($input: DetachDeviceInput!) { detachDevice(input: $input) { __typename } }`);
const ASSIGN = graphql(`mutation($input: AssignDeviceInput!) { assignDevice(input: $input) { __typename } }`);
const STOP_VM = graphql(`mutation($input: StopVmInput!) { stopVm(input: $input) { __typename } }`);
const REPORT_INVENTORY = graphql(`mutation($input: ReportInventoryInput!) { reportInventory(input: $input) { __typename } }`);

let server: TestServer;
let seed: Seed;

beforeAll(async () => {
  server = await startTestServer();
  seed = new Seed(server.client, server.url);
});
afterAll(() => server.stop());

async function vmStatus(id: string) {
  const { vm } = await server.client.data(VM_STATUS, { id });
  return { ...vm!, devices: vm!.devices.nodes };
}

describe('provisioning with a service plan', () => {
  it('a plan with GPU count 2 gets a VM two GPUs, and teardown returns them to the pool', async () => {
    const cluster = await seed.cluster('gpu-cluster');
    const clusterId = cluster.id;
    const { agent } = await cluster.host({ name: 'gpu-a', gpus: 4, numaNodes: 2 });
    const { id: planId } = await seed.plan({ name: 'gpu-duo', gpuCount: 2 });

    const capacity = await server.client.data(CAPACITY_IN_CLUSTER, { p: planId, c: clusterId });
    expect(capacity.capacity).toMatchObject({ fits: true, host: { name: 'gpu-a' }, numaNodesSpanned: 1, fitsOn: [{ hostName: 'gpu-a', freeGpus: 4 }] });

    const { provisionVm: provisioned } = await server.client.data(PROVISION, { input: { name: 'train-1', planId, clusterId } });
    expect(provisioned.__typename).toBe('VmOperationSuccess');
    const provisionVm = member(provisioned, 'VmOperationSuccess');
    expect(provisionVm.devices).toHaveLength(2);
    expect(provisionVm.devices.every((d) => ['ASSIGNING', 'ASSIGNED'].includes(d.status))).toBe(true);
    // Two GPUs on one NUMA node, when a node has two free.
    expect(new Set(provisionVm.devices.map((d) => d.numaNode)).size).toBe(1);
    expect(provisionVm.devices.map((d) => d.address).sort()).toEqual(capacity.capacity.gpus.map((g) => g.address).sort());

    const vmId = provisionVm.vm.id;
    await eventually(async () => (await vmStatus(vmId)).status === 'RUNNING');
    const running = await vmStatus(vmId);
    expect(running.devices.map((d) => d.status)).toEqual(['ASSIGNED', 'ASSIGNED']);
    const gpuIds = running.devices.map((d) => d.id);

    const { pool } = await server.client.data(POOL);
    expect(pool.byKind).toContainEqual({ kind: 'GPU', free: 2, assigned: 2, total: 4 });
    expect(pool.byModel).toEqual([{ name: 'GA102 [GeForce RTX 3090]', vendorName: 'NVIDIA Corporation', free: 2, assigned: 2 }]);

    const deleteVm = member((await server.client.data(DELETE_VM, { id: vmId })).deleteVm, 'VmOperationSuccess');
    expect(['DELETING', 'DELETED']).toContain(deleteVm.vm.status);
    expect(deleteVm.devices.map((d) => d.id).sort()).toEqual([...gpuIds].sort());
    await eventually(async () => (await vmStatus(vmId)).status === 'DELETED');
    for (const id of gpuIds) expect((await seed.device(id)).status).toBe('DETACHED');
    expect(agent.received.map((o) => o.type)).toEqual(['PROVISION', 'TEARDOWN']);
    await agent.disconnect();
  });

  it('picks the host whose GPUs span the fewest NUMA nodes', async () => {
    const cluster = await seed.cluster('numa');
    const clusterId = cluster.id;
    // numa-a: 2 GPUs split over two nodes; numa-b: 2 GPUs on one node.
    const a = await cluster.host({ name: 'numa-a', gpus: 2, numaNodes: 2 });
    const b = await cluster.host({ name: 'numa-b', gpus: 2, numaNodes: 1 });
    const { id: planId } = await seed.plan({ name: 'numa-duo', gpuCount: 2 });
    const { provisionVm } = await server.client.data(PROVISION, { input: { name: 'numa-vm', planId, clusterId } });
    expect(member(provisionVm, 'VmOperationSuccess').vm.host.name).toBe('numa-b');
    await a.agent.disconnect();
    await b.agent.disconnect();
  });

  it('honours the GPU model filter and says what is free when nothing fits', async () => {
    const cluster = await seed.cluster('models');
    const clusterId = cluster.id;
    const { agent } = await cluster.host({ name: 'models-1', gpus: 3 });
    const { id: a100 } = await seed.plan({ name: 'a100-only', gpuCount: 1, gpuVendorId: '10de', gpuProductId: '20b5' });
    const { id: trio } = await seed.plan({ name: 'gpu-quad', gpuCount: 4 });
    const before = await queryRows<{ n: number }>(server.app.database.db, sql`select count(*)::int as n from vms`);

    const { provisionVm: noA100 } = await server.client.data(PROVISION, { input: { name: 'wants-a100', planId: a100, clusterId } });
    expect(noA100).toMatchObject({ __typename: 'NoCapacityError', requiredGpus: 1, free: [{ hostName: 'models-1', freeGpus: 0 }] });
    const { provisionVm: tooMany } = await server.client.data(PROVISION, { input: { name: 'wants-4', planId: trio, clusterId } });
    expect(tooMany).toMatchObject({ __typename: 'NoCapacityError', requiredGpus: 4, free: [{ hostName: 'models-1', freeGpus: 3 }] });
    expect(member(tooMany, 'NoCapacityError').message).toMatch(/the most free on one host is 3/);
    const { capacity } = await server.client.data(FREE_BY_HOST, { p: trio, c: clusterId });
    expect(capacity).toEqual({ fits: false, host: null, gpus: [], fitsOn: [], freeByHost: [{ hostName: 'models-1', freeGpus: 3 }] });
    expect(await queryRows(server.app.database.db, sql`select count(*)::int as n from vms`)).toEqual(before);
    await agent.disconnect();
  });

  it('commands, operation outcomes and inventory reports racing on one host never fail unexpectedly', async () => {
    const cluster = await seed.cluster('racing');
    const hardware = fakeHardware({ gpus: 4, usb: 4 });
    const { id: hostId, agent } = await cluster.host({ name: 'racing-host', devices: hardware });
    const { id: planId } = await seed.plan({ name: 'racing-plan', gpuCount: 0 });
    const { vm } = member((await server.client.data(PROVISION, { input: { name: 'racing-vm', planId, hostId } })).provisionVm, 'VmOperationSuccess');
    await eventually(async () => (await vmStatus(vm.id)).status === 'RUNNING');
    agent.vms = [{ name: 'racing-vm', running: true, deviceAddresses: [] }];
    const devices = await seed.devices(hostId);

    const results = await Promise.all(
      devices.flatMap((device, i) => [
        device.status === 'ATTACHED'
          ? server.client.request(DETACH, { input: { deviceId: device.id } })
          : server.client.request(ASSIGN, { input: { deviceId: device.id, vmId: vm.id } }),
        server.client.request(STOP_VM, { input: { vmId: vm.id } }),
        agent.client.request(
          REPORT_INVENTORY,
          { input: { facts: { cpuCores: 8, memoryMb: 1024, iommuEnabled: true }, devices: hardware.map((d) => ({ ...d, vendorName: null, productName: null, serial: d.serial ?? null, iommuGroup: d.iommuGroup ?? null, numaNode: d.numaNode ?? null })), vms: agent.vms } },
        ),
        ...(i % 2 ? [agent.heartbeat().then((data) => ({ data }))] : []),
      ]),
    );
    const failures = results.filter((r) => 'errors' in r && r.errors);
    expect(failures).toEqual([]);
    await agent.disconnect();
  });

  it('100 concurrent provisions competing for 12 GPUs never hand out one GPU twice', async () => {
    const cluster = await seed.cluster('contention');
    const clusterId = cluster.id;
    const hosts = await Promise.all([1, 2, 3].map((n) => cluster.host({ name: `busy-${n}`, gpus: 4, numaNodes: 2 })));
    const { id: planId } = await seed.plan({ name: 'contended', gpuCount: 1 });

    const results = await Promise.all(
      Array.from({ length: 100 }, (_, i) => server.client.data(PROVISION, { input: { name: `race-${i}`, planId, clusterId } })),
    );
    const outcomes = results.map((r) => r.provisionVm.__typename);
    expect(outcomes.filter((t) => t === 'VmOperationSuccess')).toHaveLength(12);
    expect(outcomes.filter((t) => t === 'NoCapacityError')).toHaveLength(88);

    const handedOut = results.flatMap((r) => ('devices' in r.provisionVm ? r.provisionVm.devices.map((d) => d.id) : []));
    expect(new Set(handedOut).size).toBe(12);
    // The database agrees: no race VM holds two GPUs (and a GPU row names one VM by construction).
    const perVm = await queryRows<{ vm_id: string; n: number }>(
      server.app.database.db,
      sql`select d.vm_id, count(*)::int as n from devices d join vms v on v.id = d.vm_id where v.name like 'race-%' group by d.vm_id having count(*) > 1`,
    );
    expect(perVm).toEqual([]);
    await eventually(async () => {
      const rows = await queryRows<{ n: number }>(server.app.database.db, sql`select count(*)::int as n from devices d join vms v on v.id = d.vm_id where d.status = 'ASSIGNED' and v.name like 'race-%'`);
      return rows[0]!.n === 12;
    });
    for (const host of hosts) await host.agent.disconnect();
  });
});

describe('placement of plans without GPUs', () => {
  it('spreads VMs over the hosts with the most memory (then cores) left, and capacity names the host a provision would take', async () => {
    const cluster = await seed.cluster('spread');
    const clusterId = cluster.id;
    const { id: planId } = await seed.plan({ name: 'cpu-only', gpuCount: 0, cores: 16, memoryMb: 65_536 });
    for (const name of ['spread-a', 'spread-b', 'spread-c']) await cluster.host({ name: name, usb: 1 });
    const placed: string[] = [];
    for (let n = 0; n < 4; n++) {
      const { capacity } = await server.client.data(CAPACITY_HOST, { p: planId, c: clusterId });
      const { provisionVm } = await server.client.data(PROVISION, { input: { name: `spread-vm-${n}`, planId, clusterId } });
      const { vm } = member(provisionVm, 'VmOperationSuccess');
      expect(vm.host.name).toBe(capacity.host!.name);
      placed.push(vm.host.name);
    }
    // Equal hosts first by name; then each next VM goes where the most memory is left.
    expect(placed).toEqual(['spread-a', 'spread-b', 'spread-c', 'spread-a']);
  });
});
