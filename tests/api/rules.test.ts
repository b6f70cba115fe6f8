import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sql } from 'drizzle-orm';
import { graphql, type VariablesOf } from '../../protocol/graphql.ts';
import { fakeHardware, TestAgent } from '../support/agent.ts';
import { eventually, member } from '../support/client.ts';
import { Seed } from '../support/seed.ts';
import { startTestServer, type TestServer } from '../support/server.ts';
import { queryRows, stateSnapshot } from '../support/snapshot.ts';
import { violatedBy } from '../support/constraints.ts';
import { hostNameProblem, PLAN_LIMIT_FIELDS, PLAN_LIMITS, rangeProblem, vmNameProblem } from '../../protocol/rules.ts';

const DEVICE_SUCCESS = graphql(`fragment DeviceSuccess on DeviceOperationSuccess { operation { id type } devices { id address status } }`);
const VM_SUCCESS = graphql(`fragment VmSuccess on VmOperationSuccess { vm { id status } devices { id } }`);
const NO_CAPACITY = graphql(`fragment NoCapacity on NoCapacityError { requiredGpus free { hostName freeGpus } }`);
const DEVICE_RESULTS = [DEVICE_SUCCESS];
const VM_RESULTS = [VM_SUCCESS, NO_CAPACITY];
// Each mutation's answer: the refusals its result union can hold, and its success.
const MUTATIONS = {
  assignDevice: graphql(`mutation($input: AssignDeviceInput!) { assignDevice(input: $input) {
    __typename ... on Error { message } ... on InvalidTransitionError { status } ... on NotFoundError { typename } ...DeviceSuccess } }`, DEVICE_RESULTS),
  attachDevice: graphql(`mutation($input: AttachDeviceInput!) { attachDevice(input: $input) {
    __typename ... on Error { message } ... on InvalidTransitionError { status } ... on NotFoundError { typename } ...DeviceSuccess } }`, DEVICE_RESULTS),
  detachDevice: graphql(`mutation($input: DetachDeviceInput!) { detachDevice(input: $input) {
    __typename ... on Error { message } ... on InvalidTransitionError { status } ... on NotFoundError { typename } ...DeviceSuccess } }`, DEVICE_RESULTS),
  createCluster: graphql(`mutation($input: CreateClusterInput!) { createCluster(input: $input) { __typename ... on Error { message } ... on ValidationError { field } } }`),
  createServicePlan: graphql(`mutation($input: CreateServicePlanInput!) { createServicePlan(input: $input) {
    __typename ... on Error { message } ... on ValidationError { field } ... on NotFoundError { typename } } }`),
  updateServicePlan: graphql(`mutation($input: UpdateServicePlanInput!) { updateServicePlan(input: $input) {
    __typename ... on Error { message } ... on ValidationError { field } ... on NotFoundError { typename } } }`),
  deleteServicePlan: graphql(`mutation($input: DeleteServicePlanInput!) { deleteServicePlan(input: $input) {
    __typename ... on Error { message } ... on NotFoundError { typename } ... on PlanInUseError { vmCount } } }`),
  provisionVm: graphql(`mutation($input: ProvisionVmInput!) { provisionVm(input: $input) {
    __typename ... on Error { message } ... on ValidationError { field } ... on NotFoundError { typename } ...NoCapacity ...VmSuccess } }`, VM_RESULTS),
  deleteVm: graphql(`mutation($input: DeleteVmInput!) { deleteVm(input: $input) {
    __typename ... on Error { message } ... on InvalidTransitionError { status } ... on NotFoundError { typename } ...VmSuccess } }`, [VM_SUCCESS]),
  stopVm: graphql(`mutation($input: StopVmInput!) { stopVm(input: $input) { __typename ... on Error { message } ... on NotFoundError { typename } ...VmSuccess } }`, [VM_SUCCESS]),
};
const VM_STATUS = graphql(`query($id: ID!) { vm(id: $id) { status } }`);
const HOST_STATUS = graphql(`query($id: ID!) { host(id: $id) { status } }`);
const FITS = graphql(`query($p: ID!, $h: ID!) { capacity(planId: $p, hostId: $h) { fits } }`);
const OPERATION_OUTCOME = graphql(`query($id: ID!) { node(id: $id) { ... on Operation { status error } } }`);
const OPERATION = graphql(`query($id: ID!) { node(id: $id) { __typename ... on Operation { status error } } }`);
const LAST_TRANSITION = graphql(`query($id: ID!) { node(id: $id) { __typename ... on Device { history(last: 1) { fromStatus toStatus note } } } }`);
const DETACH_OPERATION = graphql(`mutation($id: ID!) { detachDevice(input: { deviceId: $id }) { __typename ... on DeviceOperationSuccess { operation { id } } } }`);
const ASSIGN = graphql(`mutation($d: ID!, $v: ID!) { assignDevice(input: { deviceId: $d, vmId: $v }) { __typename } }`);
const START = graphql(`mutation($id: ID!) { startOperation(input: { operationId: $id }) { __typename } }`);
const DELETE_VM = graphql(`mutation($id: ID!) { deleteVm(input: { vmId: $id }) { __typename } }`);
const HOST_SERIALS = graphql(`query($id: ID!) { host(id: $id) { devices { nodes { id address serial } } } }`);
const ABSURD_FACTS = graphql(`mutation { reportInventory(input: { facts: { cpuCores: -4, memoryMb: 1024, iommuEnabled: true }, devices: [] }) { __typename ... on ValidationError { field } } }`);
const HEARTBEAT = graphql(`mutation { heartbeat { __typename ... on Error { message } } }`);
const AGENT_OPERATIONS = graphql(`subscription { agentOperations { id } }`);
const ROTATE_HOST_TOKEN = graphql(`mutation($id: ID!) { rotateHostToken(input: { hostId: $id }) { __typename ... on EnrollHostSuccess { token } } }`);
const PROVISION_NAMED = graphql(`mutation($input: ProvisionVmInput!) { provisionVm(input: $input) { __typename ... on VmOperationSuccess { vm { id name } } } }`);
const PROVISION_OPERATION = graphql(`mutation($input: ProvisionVmInput!) { provisionVm(input: $input) { __typename ... on VmOperationSuccess { vm { id } operation { id } devices { id } } } }`);
const PROVISION_DEVICES = graphql(`mutation($input: ProvisionVmInput!) { provisionVm(input: $input) { __typename ... on VmOperationSuccess { vm { id } devices { id address } } } }`);
const NODE_ID = graphql(`query($id: ID!) { node(id: $id) { id } }`);
const WATCH_PLANS = graphql(`subscription { servicePlanChanged { planId plan { name cores } } }`);
const VM_DELETED = graphql(`query($id: ID!) { vm(id: $id) { status deletedAt } }`);

let server: TestServer;
let seed: Seed;
let counter = 0;
const unique = (prefix: string) => `${prefix}-${++counter}`;

type Input<Field extends keyof typeof MUTATIONS> = VariablesOf<(typeof MUTATIONS)[Field]>['input'];
const mutate = {
  assignDevice: async (input: Input<'assignDevice'>) => (await server.client.data(MUTATIONS.assignDevice, { input })).assignDevice,
  attachDevice: async (input: Input<'attachDevice'>) => (await server.client.data(MUTATIONS.attachDevice, { input })).attachDevice,
  detachDevice: async (input: Input<'detachDevice'>) => (await server.client.data(MUTATIONS.detachDevice, { input })).detachDevice,
  createCluster: async (input: Input<'createCluster'>) => (await server.client.data(MUTATIONS.createCluster, { input })).createCluster,
  createServicePlan: async (input: Input<'createServicePlan'>) => (await server.client.data(MUTATIONS.createServicePlan, { input })).createServicePlan,
  updateServicePlan: async (input: Input<'updateServicePlan'>) => (await server.client.data(MUTATIONS.updateServicePlan, { input })).updateServicePlan,
  deleteServicePlan: async (input: Input<'deleteServicePlan'>) => (await server.client.data(MUTATIONS.deleteServicePlan, { input })).deleteServicePlan,
  provisionVm: async (input: Input<'provisionVm'>) => (await server.client.data(MUTATIONS.provisionVm, { input })).provisionVm,
  deleteVm: async (input: Input<'deleteVm'>) => (await server.client.data(MUTATIONS.deleteVm, { input })).deleteVm,
  stopVm: async (input: Input<'stopVm'>) => (await server.client.data(MUTATIONS.stopVm, { input })).stopVm,
};
/** Asserts `call` is refused with `typename` and leaves the database exactly as it was. */
async function expectRefused(typename: string, call: () => Promise<{ __typename: string; message?: string }>, message?: RegExp) {
  const before = await stateSnapshot(server.app.database.db);
  const result = await call();
  expect(result.__typename, result.message).toBe(typename);
  if (message) expect(result.message).toMatch(message);
  expect(await stateSnapshot(server.app.database.db)).toEqual(before);
  return result;
}

async function settled(deviceId: string, status: string) {
  return eventually(async () => (await seed.device(deviceId)).status === status);
}

/** A cluster with one connected host, a VM on it, and a zero-GPU plan. */
async function hostWithVm(hardware = fakeHardware({ gpus: 2, usb: 2, nvme: 1 })) {
  const cluster = await seed.cluster(unique('cluster'));
  const host = await cluster.host({ name: unique('host'), devices: hardware });
  const { id: planId } = await seed.plan({ name: unique('plan'), gpuCount: 0 });
  const { vm } = member(await mutate.provisionVm({ name: unique('vm'), planId, hostId: host.id }), 'VmOperationSuccess');
  await eventually(async () => (await server.client.data(VM_STATUS, { id: vm.id })).vm!.status === 'RUNNING');
  const devices = await seed.devices(host.id);
  return { clusterId: cluster.id, planId, vmId: vm.id, devices, ...host };
}

beforeAll(async () => {
  server = await startTestServer({ config: { operationTimeoutMs: 60_000, sweepIntervalMs: 100 } });
  seed = new Seed(server.client, server.url);
});
afterAll(() => server.stop());

describe('device rules', () => {
  it('keeps an IOMMU group with one VM: a function whose group-mate another VM holds is neither assigned nor provisioned', async () => {
    const gpu = { kind: 'GPU' as const, address: '0000:47:00.0', vendorId: '10de', productId: '2204', iommuGroup: 21, numaNode: 0, driver: 'vfio-pci' };
    const audio = { kind: 'PCI' as const, address: '0000:47:00.1', vendorId: '10de', productId: '1aef', iommuGroup: 21, numaNode: 0, driver: 'vfio-pci' };
    const { devices, vmId, id: hostId, planId } = await hostWithVm([gpu, audio]);
    const [vmB] = [member(await mutate.provisionVm({ name: unique('vm-b'), planId, hostId }), 'VmOperationSuccess').vm.id];
    await eventually(async () => (await server.client.data(VM_STATUS, { id: vmB })).vm!.status === 'RUNNING');
    const gpuRow = devices.find((d) => d.address === gpu.address)!;
    const audioRow = devices.find((d) => d.address === audio.address)!;

    // Assigning takes the whole group now; a host can still report one function in a domain alone.
    await holdAlone(audioRow.id, vmB);
    await expectRefused(
      'IommuGroupInUseError',
      () => mutate.assignDevice({ deviceId: gpuRow.id, vmId }),
      /shares IOMMU group 21 with 0000:47:00\.1, which VM vm-b-\w+ holds/,
    );
    // A plan's GPU is never one whose group-mate another VM holds either.
    const { id: gpuPlan } = await seed.plan({ name: unique('group-plan'), gpuCount: 1 });
    const { capacity } = await server.client.data(FITS, { p: gpuPlan, h: hostId });
    expect(capacity.fits).toBe(false);
    // The same VM may take the rest of its group.
    expect((await mutate.assignDevice({ deviceId: gpuRow.id, vmId: vmB })).__typename).toBe('DeviceOperationSuccess');
  });

  it('assigns only a DETACHED device', async () => {
    const { devices, vmId } = await hostWithVm();
    const attached = devices.find((d) => d.kind === 'USB')!;
    const refusal = await expectRefused('InvalidTransitionError', () => mutate.assignDevice({ deviceId: attached.id, vmId }), /detach it into the pool first/);
    expect(refusal).toMatchObject({ status: 'ATTACHED' });
  });

  it('assigns only to a VM on the same host', async () => {
    const a = await hostWithVm();
    const b = await hostWithVm();
    const usb = a.devices.find((d) => d.kind === 'USB')!;
    await mutate.detachDevice({ deviceId: usb.id });
    await settled(usb.id, 'DETACHED');
    await expectRefused('WrongHostError', () => mutate.assignDevice({ deviceId: usb.id, vmId: b.vmId }), /only be assigned to a VM on its own host/);
  });

  it('never detaches or reattaches an ASSIGNED device', async () => {
    const { devices, vmId } = await hostWithVm();
    const gpu = devices.find((d) => d.kind === 'GPU')!;
    expect(gpu.status).toBe('DETACHED');
    await mutate.assignDevice({ deviceId: gpu.id, vmId });
    await settled(gpu.id, 'ASSIGNED');
    await expectRefused('InvalidTransitionError', () => mutate.detachDevice({ deviceId: gpu.id }), /is assigned to vm-\d+; release it first/);
    await expectRefused('InvalidTransitionError', () => mutate.attachDevice({ deviceId: gpu.id }), /release it first/);
  });

  it('moves PCI functions sharing an IOMMU group together, and the operation lists them all', async () => {
    const hardware = [
      { kind: 'GPU' as const, address: '0000:65:00.0', vendorId: '10de', productId: '2204', iommuGroup: 42, driver: 'nvidia' },
      { kind: 'PCI' as const, address: '0000:65:00.1', vendorId: '10de', productId: '1aef', iommuGroup: 42, driver: 'snd_hda_intel' },
      { kind: 'NVME' as const, address: '0000:01:00.0', vendorId: '144d', productId: 'a80a', iommuGroup: 7, driver: 'nvme' },
    ];
    const { devices, agent } = await hostWithVm(hardware);
    const gpu = devices.find((d) => d.address === '0000:65:00.0')!;
    const result = member(await mutate.detachDevice({ deviceId: gpu.id }), 'DeviceOperationSuccess');
    expect(result.devices.map((d) => d.address).sort()).toEqual(['0000:65:00.0', '0000:65:00.1']);
    expect(result.devices.every((d) => ['DETACHING', 'DETACHED'].includes(d.status))).toBe(true);
    await settled(gpu.id, 'DETACHED');
    const audio = devices.find((d) => d.address === '0000:65:00.1')!;
    expect((await seed.device(audio.id)).status).toBe('DETACHED');
    expect(agent.received.at(-1)!.devices.map((d) => d.address).sort()).toEqual(['0000:65:00.0', '0000:65:00.1']);
    const nvme = devices.find((d) => d.kind === 'NVME')!;
    expect((await seed.device(nvme.id)).status).toBe('ATTACHED');

    // Reattaching the audio function brings the GPU back too.
    await mutate.attachDevice({ deviceId: audio.id });
    await settled(gpu.id, 'ATTACHED');
  });

  it('refuses a group move when any member cannot move, naming it', async () => {
    const hardware = [
      { kind: 'GPU' as const, address: '0000:65:00.0', vendorId: '10de', productId: '2204', iommuGroup: 42, driver: 'vfio-pci' },
      { kind: 'PCI' as const, address: '0000:65:00.1', vendorId: '10de', productId: '1aef', iommuGroup: 42, driver: 'vfio-pci' },
    ];
    const { devices, vmId } = await hostWithVm(hardware);
    const gpu = devices.find((d) => d.address === '0000:65:00.0')!;
    const audio = devices.find((d) => d.address === '0000:65:00.1')!;
    await holdAlone(audio.id, vmId);
    await expectRefused('InvalidTransitionError', () => mutate.attachDevice({ deviceId: gpu.id }), /PCI 0000:65:00.1 cannot be attached: it is assigned/);
  });

  it('refuses any action on a device of an OFFLINE host', async () => {
    const { devices, agent, id: hostId } = await hostWithVm();
    await server.app.database.db.execute(sql`update hosts set status = 'OFFLINE' where id = ${(await hostDbId(hostId))}`);
    const usb = devices.find((d) => d.kind === 'USB')!;
    await expectRefused('HostOfflineError', () => mutate.detachDevice({ deviceId: usb.id }), /is offline/);
    await agent.heartbeat();
    // Heartbeats are written in batches: the host is ONLINE again within one flush interval.
    await eventually(async () => (await server.client.data(HOST_STATUS, { id: hostId })).host!.status === 'ONLINE');
    expect((await mutate.detachDevice({ deviceId: usb.id })).__typename).toBe('DeviceOperationSuccess');
  });

  it('refuses a second action while an operation is in flight', async () => {
    const { devices, agent } = await hostWithVm();
    agent.respond = () => 'hold';
    const usb = devices.find((d) => d.kind === 'USB')!;
    await mutate.detachDevice({ deviceId: usb.id });
    await expectRefused('InvalidTransitionError', () => mutate.detachDevice({ deviceId: usb.id }), /busy \(detaching\)/);
  });
});

/** Puts one function of a group in a VM without the rest, as a host's report of its domains can. */
async function holdAlone(deviceId: string, vmId: string) {
  await server.app.database.db.execute(sql`update devices set status = 'ASSIGNED', vm_id = ${await hostDbId(vmId)} where id = ${await hostDbId(deviceId)}`);
}

async function hostDbId(globalId: string) {
  return Buffer.from(globalId, 'base64').toString().split(':')[1]!;
}

describe('operation outcomes', () => {
  it('a failed operation returns the device to where it was and keeps the error', async () => {
    const { devices, agent } = await hostWithVm();
    agent.respond = () => ({ succeeded: false, error: 'vfio-pci: probe of 0000:41:00.0 failed with error -22' });
    const nvme = devices.find((d) => d.kind === 'NVME')!;
    const { operation } = member(await mutate.detachDevice({ deviceId: nvme.id }), 'DeviceOperationSuccess');
    await settled(nvme.id, 'ATTACHED');
    const { node } = await server.client.data(OPERATION_OUTCOME, { id: operation.id });
    expect(node).toEqual({ status: 'FAILED', error: 'vfio-pci: probe of 0000:41:00.0 failed with error -22' });
    const history = await server.client.data(LAST_TRANSITION, { id: nvme.id });
    expect(member(history.node!, 'Device').history).toEqual([{ fromStatus: 'DETACHING', toStatus: 'ATTACHED', note: 'vfio-pci: probe of 0000:41:00.0 failed with error -22' }]);
  });

  it('an operation not completed in time fails and reverts; the next inventory report settles the truth', async () => {
    const quick = await startTestServer({ config: { operationTimeoutMs: 400, operationQueueTimeoutMs: 400, sweepIntervalMs: 100 } });
    try {
      const quickSeed = new Seed(quick.client, quick.url);
      const cluster = await quickSeed.cluster();
      const { id: hostId, agent } = await cluster.host({ name: 'slow-host', nvme: 1 });
      agent.respond = () => 'hold';
      const [nvme] = await quickSeed.devices(hostId);
      const detachDevice = member((await quick.client.data(DETACH_OPERATION, { id: nvme!.id })).detachDevice, 'DeviceOperationSuccess');
      await eventually(async () => (await quickSeed.device(nvme!.id)).status === 'ATTACHED');
      const node = member((await quick.client.data(OPERATION, { id: detachDevice.operation.id })).node!, 'Operation');
      expect(node.status).toBe('FAILED');
      expect(node.error).toBe("The host's agent did not pick it up within 0.4 s (the queue timeout); nothing was done on the host");

      // The agent did bind it after all; its late answer is refused and its next report wins.
      const late = await agent.complete(detachDevice.operation.id, true);
      expect(late.completeOperation.__typename).toBe('OperationFinishedError');
      agent.devices = agent.devices.map((d) => ({ ...d, driver: 'vfio-pci' }));
      await agent.reportInventory();
      expect((await quickSeed.device(nvme!.id)).status).toBe('DETACHED');
      await agent.disconnect();
    } finally {
      await quick.stop();
    }
  });
});

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

describe('agent isolation', () => {
  it('agent calls need a host token', async () => {
    for (const call of [HEARTBEAT]) {
      const data = await server.client.data(call);
      expect(data.heartbeat.__typename).toBe('NotAuthorizedError');
    }
    const stream = server.client.subscribe(AGENT_OPERATIONS);
    await expect(stream.next((e) => Boolean(e.errors))).resolves.toMatchObject({ errors: [{ message: expect.stringMatching(/host agents/) }] });
  });

  it("an agent cannot complete another host's operation", async () => {
    const a = await hostWithVm();
    const b = await hostWithVm();
    a.agent.respond = () => 'hold';
    const usb = a.devices.find((d) => d.kind === 'USB')!;
    const { operation } = member(await mutate.detachDevice({ deviceId: usb.id }), 'DeviceOperationSuccess');
    const before = await stateSnapshot(server.app.database.db);
    const answer = await b.agent.complete(operation.id, true);
    expect(answer.completeOperation.__typename).toBe('NotFoundError');
    expect(await stateSnapshot(server.app.database.db)).toEqual(before);
  });

  it('a rotated token stops working at once', async () => {
    const { id: hostId, token } = await hostWithVm();
    const rotateHostToken = member((await server.client.data(ROTATE_HOST_TOKEN, { id: hostId })).rotateHostToken, 'EnrollHostSuccess');
    const stale = new TestAgent(server.url, token, []);
    expect((await stale.heartbeat()).heartbeat.__typename).toBe('NotAuthorizedError');
    const fresh = new TestAgent(server.url, rotateHostToken.token, []);
    expect((await fresh.heartbeat()).heartbeat.__typename).toBe('Host');
  });
});

describe('bad input', () => {
  it('unknown IDs and IDs of the wrong type are NotFoundErrors', async () => {
    const { vmId, devices } = await hostWithVm();
    const missingDevice = Buffer.from('Device:00000000-0000-4000-8000-000000000000').toString('base64');
    await expectRefused('NotFoundError', () => mutate.detachDevice({ deviceId: missingDevice }));
    await expectRefused('NotFoundError', () => mutate.detachDevice({ deviceId: vmId }), /No Device/);
    await expectRefused('NotFoundError', () => mutate.detachDevice({ deviceId: 'not-an-id' }));
    await expectRefused('NotFoundError', () => mutate.assignDevice({ deviceId: devices[0]!.id, vmId: devices[0]!.id }), /No VM/);
    await expectRefused('NotFoundError', () => mutate.detachDevice({ deviceId: 'x'.repeat(100_000) }));
    const { node } = await server.client.data(NODE_ID, { id: missingDevice });
    expect(node).toBeNull();
  });

  it('negative, absurd or inconsistent plan values are refused', async () => {
    const base = { name: unique('plan'), provisionType: 'KVM' as const, cores: 4, memoryMb: 8192, diskGb: 50 };
    await expectRefused('ValidationError', () => mutate.createServicePlan({ ...base, cores: -1 }), /cores must be/);
    await expectRefused('ValidationError', () => mutate.createServicePlan({ ...base, memoryMb: 2 ** 31 - 1 }), /memoryMb/);
    await expectRefused('ValidationError', () => mutate.createServicePlan({ ...base, gpuCount: 1000 }), /gpuCount/);
    await expectRefused('ValidationError', () => mutate.createServicePlan({ ...base, provisionType: 'LXC', gpuCount: 1 }), /only meaningful for KVM/);
    await expectRefused('ValidationError', () => mutate.createServicePlan({ ...base, gpuProductId: '2204' }), /needs its vendor/);
    await expectRefused('ValidationError', () => mutate.createServicePlan({ ...base, gpuVendorId: 'nvidia' }), /4 hex digits/);
    await expectRefused('ValidationError', () => mutate.createServicePlan({ ...base, name: 'p'.repeat(65) }), /1 to 64 characters/);
    expect((await mutate.createServicePlan(base)).__typename).toBe('ServicePlan');
    await expectRefused('ValidationError', () => mutate.createServicePlan(base), /already exists/);
  });

  it('each plan limit is refused past either bound with the words of protocol/rules.ts, as the console says them', async () => {
    const base = { name: unique('limits'), provisionType: 'KVM' as const, cores: 4, memoryMb: 8192, diskGb: 50, gpuCount: 0 };
    for (const field of PLAN_LIMIT_FIELDS) {
      for (const value of [PLAN_LIMITS[field].min - 1, PLAN_LIMITS[field].max + 1]) {
        const refused = await expectRefused('ValidationError', () => mutate.createServicePlan({ ...base, [field]: value }));
        expect(refused.message).toBe(rangeProblem(field, value));
      }
    }
  });

  it('names are refused with the words of protocol/rules.ts, as the console says them', async () => {
    const { planId, id: hostId } = await hostWithVm();
    for (const name of ['v'.repeat(64), '-x', '42']) {
      expect((await expectRefused('ValidationError', () => mutate.provisionVm({ name, planId, hostId }))).message).toBe(vmNameProblem(name));
    }
    expect((await expectRefused('ValidationError', () => mutate.createCluster({ name: 'has space' }))).message).toBe(hostNameProblem('has space', 'Cluster'));
  });

  it('over-long and malformed names are refused', async () => {
    const { planId, id: hostId } = await hostWithVm();
    await expectRefused('ValidationError', () => mutate.provisionVm({ name: 'v'.repeat(64), planId, hostId }), /1 to 63/);
    await expectRefused('ValidationError', () => mutate.provisionVm({ name: '../etc', planId, hostId }), /not valid/);
    await expectRefused('ValidationError', () => mutate.provisionVm({ name: '42', planId, hostId }), /domain ID/);
    await expectRefused('ValidationError', () => mutate.createCluster({ name: 'c'.repeat(65) }));
    await expectRefused('ValidationError', () => mutate.provisionVm({ name: 'ok', planId }), /cluster/);
  });

  it('a malformed query gets an error and runs nothing', async () => {
    const before = await stateSnapshot(server.app.database.db);
    const result = await server.client.request(`mutation { createCluster(input: { name: "x" }) { ... on Cluster { id } `);
    expect(result.errors?.[0]?.message).toMatch(/Syntax Error/);
    expect(await stateSnapshot(server.app.database.db)).toEqual(before);
  });
});

describe('plans and VMs', () => {
  it('plan changes are announced live, deletions included', async () => {
    const watch = server.client.subscribe(WATCH_PLANS);
    await new Promise((resolve) => setTimeout(resolve, 200));
    const name = unique('announced');
    const { id: planId } = await seed.plan({ name, gpuCount: 0 });
    await watch.next((e) => e.data?.servicePlanChanged.plan?.name === name);
    await mutate.updateServicePlan({ planId, cores: 16 });
    await watch.next((e) => e.data?.servicePlanChanged.plan?.cores === 16);
    await mutate.deleteServicePlan({ planId });
    await watch.next((e) => e.data?.servicePlanChanged.planId === planId && e.data.servicePlanChanged.plan === null);
    watch.close();
  });

  it('a plan cannot be deleted while VMs use it', async () => {
    const { planId } = await hostWithVm();
    await expectRefused('PlanInUseError', () => mutate.deleteServicePlan({ planId }), /used by 1 VM/);
  });

  it('a VM keeps its devices while stopped, and deleteVm returns every device to the pool', async () => {
    const { devices, vmId, planId } = await hostWithVm();
    const gpus = devices.filter((d) => d.kind === 'GPU');
    for (const gpu of gpus) await mutate.assignDevice({ deviceId: gpu.id, vmId });
    for (const gpu of gpus) await settled(gpu.id, 'ASSIGNED');

    await mutate.stopVm({ vmId });
    await eventually(async () => (await server.client.data(VM_STATUS, { id: vmId })).vm!.status === 'STOPPED');
    for (const gpu of gpus) expect((await seed.device(gpu.id)).status).toBe('ASSIGNED');
    await expectRefused('VmBusyError', () => mutate.stopVm({ vmId }), /stopped/);

    const { devices: releasing } = member(await mutate.deleteVm({ vmId }), 'VmOperationSuccess');
    expect(releasing.map((d) => d.id).sort()).toEqual(gpus.map((g) => g.id).sort());
    for (const gpu of gpus) await settled(gpu.id, 'DETACHED');
    const { vm } = await server.client.data(VM_DELETED, { id: vmId });
    expect(vm!.status).toBe('DELETED');
    await expectRefused('NotFoundError', () => mutate.deleteVm({ vmId }));
    // With its only VM gone, the plan can go too.
    expect((await mutate.deleteServicePlan({ planId })).__typename).toBe('DeleteServicePlanSuccess');
  });
});

describe('database invariants', () => {
  it('a device row cannot name a VM unless its status holds one, nor hold one without naming it', async () => {
    const { devices, vmId } = await hostWithVm();
    const vm = Buffer.from(vmId, 'base64').toString().split(':')[1]!;
    const usb = Buffer.from(devices.find((d) => d.kind === 'USB')!.id, 'base64').toString().split(':')[1]!;
    expect(await violatedBy(server.app.database.db.execute(sql`update devices set vm_id = ${vm} where id = ${usb}`))).toBe('devices_vm_matches_status');
    expect(await violatedBy(server.app.database.db.execute(sql`update devices set status = 'ASSIGNED' where id = ${usb}`))).toBe('devices_vm_matches_status');
  });

  it('a device row cannot name a VM on another host', async () => {
    const a = await hostWithVm();
    const b = await hostWithVm();
    const vm = Buffer.from(b.vmId, 'base64').toString().split(':')[1]!;
    const usb = Buffer.from(a.devices.find((d) => d.kind === 'USB')!.id, 'base64').toString().split(':')[1]!;
    expect(await violatedBy(server.app.database.db.execute(sql`update devices set status = 'ASSIGNED', vm_id = ${vm} where id = ${usb}`))).toBe(
      'devices_vm_same_host_fk',
    );
    const rows = await queryRows<{ n: number }>(server.app.database.db, sql`select count(*)::int as n from devices where vm_id is not null and status not in ('ASSIGNING', 'ASSIGNED', 'RELEASING')`);
    expect(rows[0]!.n).toBe(0);
  });
});
