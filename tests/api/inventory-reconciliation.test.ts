import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { graphql } from '../../protocol/graphql.ts';
import { fakeHardware } from '../support/agent.ts';
import { eventually, member } from '../support/client.ts';
import { Seed } from '../support/seed.ts';
import { startTestServer } from '../support/server.ts';
import { stateSnapshot } from '../support/snapshot.ts';
import { DETACH_OPERATION, hostWithVm, mutate, OPERATION, seed, server, settled, startServer, unique, VM_STATUS } from './support/rules-server.ts';

const ASSIGN = graphql(`mutation($d: ID!, $v: ID!) { assignDevice(input: { deviceId: $d, vmId: $v }) { __typename } }`);
const START = graphql(`mutation($id: ID!) { startOperation(input: { operationId: $id }) { __typename } }`);
const DELETE_VM = graphql(`mutation($id: ID!) { deleteVm(input: { vmId: $id }) { __typename } }`);
const HOST_SERIALS = graphql(`query($id: ID!) { host(id: $id) { devices { nodes { id address serial } } } }`);
const ABSURD_FACTS = graphql(`mutation { reportInventory(input: { facts: { cpuCores: -4, memoryMb: 1024, iommuEnabled: true }, devices: [] }) { __typename ... on ValidationError { field } } }`);
const PROVISION_NAMED = graphql(`mutation($input: ProvisionVmInput!) { provisionVm(input: $input) { __typename ... on VmOperationSuccess { vm { id name } } } }`);
const PROVISION_OPERATION = graphql(`mutation($input: ProvisionVmInput!) { provisionVm(input: $input) { __typename ... on VmOperationSuccess { vm { id } operation { id } devices { id } } } }`);
const PROVISION_DEVICES = graphql(`mutation($input: ProvisionVmInput!) { provisionVm(input: $input) { __typename ... on VmOperationSuccess { vm { id } devices { id address } } } }`);

beforeAll(startServer);
afterAll(() => server.stop());

describe('inventory reconciliation', () => {
  it('new devices appear ATTACHED or DETACHED by driver; vanished ones become MISSING, never deleted', async () => {
    const cluster = await seed.cluster(unique('cluster'));
    const hardware = fakeHardware({ gpus: 1, nvme: 1 });
    const { id: hostId, agent } = await cluster.host({ name: unique('host'), devices: hardware });
    const byAddress = Object.fromEntries((await seed.devices(hostId)).map((d) => [d.address, d]));
    expect(byAddress['0000:41:00.0']!.status).toBe('DETACHED');
    expect(byAddress['0000:01:00.0']!.status).toBe('ATTACHED');

    agent.devices = hardware.filter((d) => d.kind !== 'NVME');
    await agent.reportInventory();
    expect((await seed.device(byAddress['0000:01:00.0']!.id)).status).toBe('MISSING');

    agent.devices = hardware;
    await agent.reportInventory();
    expect((await seed.device(byAddress['0000:01:00.0']!.id)).status).toBe('ATTACHED');
    expect(await seed.devices(hostId)).toHaveLength(2);
  });

  it("the agent's view of bindings wins over what the server believed", async () => {
    const { devices, agent, vmId } = await hostWithVm(fakeHardware({ gpus: 2 }));
    const [gpu0, gpu1] = devices;
    await mutate.assignDevice({ deviceId: gpu1!.id, vmId });
    await settled(gpu1!.id, 'ASSIGNED');
    // Someone rebound both GPUs to the host driver behind Passthru's back.
    agent.devices = agent.devices.map((d) => ({ ...d, driver: 'nvidia' }));
    await agent.reportInventory();
    expect((await seed.device(gpu0!.id)).status).toBe('ATTACHED');
    expect(await seed.device(gpu1!.id)).toMatchObject({ status: 'ATTACHED', vm: null });
  });

  it("the host's domains settle assignments an operation lost, and VM power", async () => {
    const quick = await startTestServer({ config: { operationTimeoutMs: 400, operationQueueTimeoutMs: 400, sweepIntervalMs: 100 } });
    try {
      const quickSeed = new Seed(quick.client, quick.url);
      const { id: hostId, agent } = await quickSeed.cluster().host({ name: 'domains-host', gpus: 2 });
      const { id: planId } = await quickSeed.plan({ name: 'domains-plan', gpuCount: 0 });
      const provisionVm = member((await quick.client.data(PROVISION_NAMED, { input: { name: 'vm-domains', planId, hostId } })).provisionVm, 'VmOperationSuccess');
      const vmId = provisionVm.vm.id;
      await eventually(async () => (await quick.client.data(VM_STATUS, { id: vmId })).vm!.status === 'RUNNING');
      const [gpu0, gpu1] = await quickSeed.devices(hostId);

      // The host hot-plugs gpu0, but its answer never arrives: the server times out and reverts.
      agent.respond = () => 'hold';
      await quick.client.data(ASSIGN, { d: gpu0!.id, v: vmId });
      await eventually(async () => (await quickSeed.device(gpu0!.id)).status === 'DETACHED');

      // The next report says the domain holds it, and that the VM is shut off.
      agent.vms = [{ name: 'vm-domains', running: false, deviceAddresses: [gpu0!.address] }];
      await agent.reportInventory();
      expect(await quickSeed.device(gpu0!.id)).toMatchObject({ status: 'ASSIGNED', vm: { name: 'vm-domains' } });
      expect((await quick.client.data(VM_STATUS, { id: vmId })).vm!.status).toBe('STOPPED');
      expect((await quickSeed.device(gpu1!.id)).status).toBe('DETACHED');

      // Later the domain no longer has it: back to the pool. A report without domains changes nothing.
      agent.vms = [{ name: 'vm-domains', running: true, deviceAddresses: [] }];
      await agent.reportInventory();
      expect(await quickSeed.device(gpu0!.id)).toMatchObject({ status: 'DETACHED', vm: null });
      expect((await quick.client.data(VM_STATUS, { id: vmId })).vm!.status).toBe('RUNNING');
      agent.vms = null;
      await agent.reportInventory();
      expect((await quickSeed.device(gpu0!.id)).status).toBe('DETACHED');
      await agent.disconnect();
    } finally {
      await quick.stop();
    }
  });

  it('a late success from the agent for an operation timed out while running is applied if nothing moved its devices since, and refused if something did', async () => {
    const quick = await startTestServer({ config: { operationTimeoutMs: 400, sweepIntervalMs: 100 } });
    try {
      const quickSeed = new Seed(quick.client, quick.url);
      const { id: hostId, agent } = await quickSeed.cluster().host({ name: 'late-answers', usb: 2 });
      const [kept, moved] = await quickSeed.devices(hostId);
      agent.respond = () => 'hold';
      const detach = async (id: string) =>
        member((await quick.client.data(DETACH_OPERATION, { id })).detachDevice, 'DeviceOperationSuccess').operation.id;
      const operation = async (id: string) => member((await quick.client.data(OPERATION, { id })).node!, 'Operation');

      // Both picked up, neither answered in time: FAILED, both devices back ATTACHED.
      const first = await detach(kept!.id);
      const second = await detach(moved!.id);
      for (const id of [first, second]) await agent.client.data(START, { id });
      await eventually(async () => (await operation(first)).status === 'FAILED' && (await operation(second)).status === 'FAILED');
      expect((await quickSeed.device(kept!.id)).status).toBe('ATTACHED');

      // Something moves the second device meanwhile: a new detach is queued for it.
      await detach(moved!.id);

      const lateFirst = await agent.complete(first, true);
      expect(lateFirst.completeOperation).toEqual({ __typename: 'Operation', status: 'SUCCEEDED' });
      expect((await quickSeed.device(kept!.id)).status).toBe('DETACHED');
      expect((await operation(first)).error).toBeNull();

      const lateSecond = await agent.complete(second, true);
      expect(lateSecond.completeOperation.__typename).toBe('OperationFinishedError');
      expect((await operation(second)).status).toBe('FAILED');
      expect((await quickSeed.device(moved!.id)).status).toBe('DETACHING');
      await agent.disconnect();
    } finally {
      await quick.stop();
    }
  });

  it('a late success of a provision timed out while running brings the VM back RUNNING with its GPU, named again', async () => {
    const quick = await startTestServer({ config: { operationTimeoutMs: 400, sweepIntervalMs: 100 } });
    try {
      const quickSeed = new Seed(quick.client, quick.url);
      const { id: hostId, agent } = await quickSeed.cluster().host({ name: 'late-provision', gpus: 1 });
      const { id: planId } = await quickSeed.plan({ name: 'late-provision-plan', gpuCount: 1 });
      agent.respond = () => 'hold';
      const provisionVm = member((await quick.client.data(PROVISION_OPERATION, { input: { name: 'vm-late-provision', planId, hostId } })).provisionVm, 'VmOperationSuccess');
      await agent.client.data(START, { id: provisionVm.operation.id });
      const vmStatus = async () => (await quick.client.data(VM_STATUS, { id: provisionVm.vm.id })).vm!.status;
      await eventually(async () => (await vmStatus()) === 'FAILED');
      expect(await quickSeed.device(provisionVm.devices[0]!.id)).toMatchObject({ status: 'DETACHED', vm: null });

      const late = await agent.complete(provisionVm.operation.id, true);
      expect(late.completeOperation).toEqual({ __typename: 'Operation', status: 'SUCCEEDED' });
      expect(await vmStatus()).toBe('RUNNING');
      expect(await quickSeed.device(provisionVm.devices[0]!.id)).toMatchObject({ status: 'ASSIGNED', vm: { name: 'vm-late-provision' } });
      await agent.disconnect();
    } finally {
      await quick.stop();
    }
  });

  it("a VM's existence follows the host: a provision and a teardown the server gave up on but the host finished", async () => {
    const quick = await startTestServer({ config: { operationTimeoutMs: 400, operationQueueTimeoutMs: 400, sweepIntervalMs: 100 } });
    try {
      const quickSeed = new Seed(quick.client, quick.url);
      const { id: hostId, agent } = await quickSeed.cluster().host({ name: 'late-host', gpus: 2 });
      const { id: planId } = await quickSeed.plan({ name: 'late-plan', gpuCount: 1 });
      const vmStatus = async (id: string) => (await quick.client.data(VM_STATUS, { id })).vm!.status;

      // The host creates the domain with a GPU, but its answer never arrives: FAILED, GPU back in the pool.
      agent.respond = () => 'hold';
      const provisionVm = member((await quick.client.data(PROVISION_DEVICES, { input: { name: 'vm-late', planId, hostId } })).provisionVm, 'VmOperationSuccess');
      const vmId = provisionVm.vm.id;
      const gpu = provisionVm.devices[0]!;
      await eventually(async () => (await vmStatus(vmId)) === 'FAILED');
      expect((await quickSeed.device(gpu.id)).status).toBe('DETACHED');

      // The host's domains say it runs with that GPU: RUNNING, and the GPU is its.
      agent.vms = [{ name: 'vm-late', running: true, deviceAddresses: [gpu.address] }];
      await agent.reportInventory();
      expect(await vmStatus(vmId)).toBe('RUNNING');
      expect(await quickSeed.device(gpu.id)).toMatchObject({ status: 'ASSIGNED', vm: { name: 'vm-late' } });

      // The host tears it down, but again its answer never arrives: the VM reverts to RUNNING.
      await quick.client.data(DELETE_VM, { id: vmId });
      await eventually(async () => (await quick.client.data(VM_STATUS, { id: vmId })).vm!.status === 'RUNNING');
      expect((await quickSeed.device(gpu.id)).status).toBe('ASSIGNED');

      // Its domain is gone from the host: DELETED, and the GPU back in the pool.
      agent.vms = [];
      await agent.reportInventory();
      expect(await vmStatus(vmId)).toBe('DELETED');
      expect(await quickSeed.device(gpu.id)).toMatchObject({ status: 'DETACHED', vm: null });
      await agent.disconnect();
    } finally {
      await quick.stop();
    }
  });

  it('a device keeps its identity when its address changes but its serial does not', async () => {
    const cluster = await seed.cluster(unique('cluster'));
    const hardware = fakeHardware({ nvme: 2 });
    const { id: hostId, agent } = await cluster.host({ name: unique('host'), devices: hardware });
    const before = await seed.devices(hostId);
    // The two drives swap slots.
    agent.devices = [
      { ...hardware[0]!, address: hardware[1]!.address },
      { ...hardware[1]!, address: hardware[0]!.address },
    ];
    await agent.reportInventory();
    const after = await seed.devices(hostId);
    expect(after.map((d) => d.id).sort()).toEqual(before.map((d) => d.id).sort());
    const serials = await server.client.data(HOST_SERIALS, { id: hostId });
    const moved = serials.host!.devices.nodes.find((d) => d.serial === hardware[0]!.serial);
    expect(moved).toMatchObject({ id: before.find((d) => d.address === hardware[0]!.address)!.id, address: hardware[1]!.address });
  });

  it('refuses a hostile inventory and writes nothing', async () => {
    const cluster = await seed.cluster(unique('cluster'));
    const { agent } = await cluster.host({ name: unique('host'), usb: 1 });
    const before = await stateSnapshot(server.app.database.db);
    agent.devices = Array.from({ length: 5000 }, (_, i) => ({ kind: 'USB' as const, address: `1-${i}`, vendorId: '046d', productId: 'c31c' }));
    await expect(agent.reportInventory()).rejects.toThrow(/at most 4096 devices/);
    agent.devices = [{ kind: 'USB', address: '1-1; drop table devices', vendorId: '046d', productId: 'c31c' }];
    await expect(agent.reportInventory()).rejects.toThrow(/not a PCI or USB address/);
    agent.devices = [{ kind: 'USB', address: '1-1', vendorId: 'XYZ', productId: 'c31c' }];
    await expect(agent.reportInventory()).rejects.toThrow(/4 lowercase hex digits/);
    agent.devices = [];
    const absurd = await agent.client.data(
      ABSURD_FACTS,
    );
    expect(absurd.reportInventory).toEqual({ __typename: 'ValidationError', field: 'facts.cpuCores' });
    expect(await stateSnapshot(server.app.database.db)).toEqual(before);
  });
});
