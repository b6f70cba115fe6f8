import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sql } from 'drizzle-orm';
import type { FakeDevice } from '../support/agent.ts';
import { eventually } from '../support/client.ts';
import { Seed } from '../support/seed.ts';
import { startTestServer, type TestServer } from '../support/server.ts';
import { queryRows, stateSnapshot } from '../support/snapshot.ts';
import { violatedBy } from '../support/constraints.ts';

// IOMMU groups stay whole: VFIO hands a group to the pool, and to a VM, as one. The issue's
// reproduction: detach 47:00.0 (its audio function 47:00.1 comes along), assign 47:00.0 to vm-a
// and 47:00.1 to vm-b; the second must be refused.

const RESULT = `__typename
  ... on Error { message }
  ... on InvalidTransitionError { status }
  ... on DeviceOperationSuccess { operation { id type } devices { id address status vm { name } } }`;
const ASSIGN_RESULT = `${RESULT}
  ... on IommuGroupInUseError { deviceId }
  ... on IommuGroupMembersError { deviceId members { id address } }`;

const GPU: FakeDevice = { kind: 'GPU', address: '0000:47:00.0', vendorId: '10de', productId: '2204', iommuGroup: 21, numaNode: 0, driver: 'nvidia' };
const AUDIO: FakeDevice = { kind: 'PCI', address: '0000:47:00.1', vendorId: '10de', productId: '1aef', iommuGroup: 21, numaNode: 0, driver: 'snd_hda_intel' };
const USB: FakeDevice = { kind: 'USB', address: '1-1', vendorId: '046d', productId: 'c31c', driver: 'usb' };

let server: TestServer;
let seed: Seed;
let counter = 0;
const unique = (prefix: string) => `${prefix}-${++counter}`;

async function mutate(field: string, input: Record<string, unknown>) {
  const inputType = `${field.charAt(0).toUpperCase()}${field.slice(1)}Input`;
  const result = field === 'assignDevice' ? ASSIGN_RESULT : RESULT;
  return (await server.client.data(`mutation($input: ${inputType}!) { ${field}(input: $input) { ${result} } }`, { input }))[field];
}

/** Asserts `call` is refused with `typename` and leaves the database exactly as it was. */
async function expectRefused(typename: string, call: () => Promise<{ __typename: string; message?: string }>, message: RegExp) {
  const before = await stateSnapshot(server.app.database.db);
  const result = await call();
  expect(result.__typename, result.message).toBe(typename);
  expect(result.message).toMatch(message);
  expect(await stateSnapshot(server.app.database.db)).toEqual(before);
  return result;
}

async function vmRunning(name: string, planId: string, hostId: string) {
  const { provisionVm } = await server.client.data(
    `mutation($input: ProvisionVmInput!) { provisionVm(input: $input) { __typename ... on VmOperationSuccess { vm { id } } } }`,
    { input: { name, planId, hostId } },
  );
  await eventually(async () => (await server.client.data(`query($id: ID!) { vm(id: $id) { status } }`, { id: provisionVm.vm.id })).vm.status === 'RUNNING');
  return provisionVm.vm.id as string;
}

/** A connected host with the GPU and its audio function on the host driver, and two running VMs. */
async function hostWithGroup() {
  const cluster = await seed.cluster(unique('cluster'));
  const host = await cluster.host({ name: unique('host'), devices: [GPU, AUDIO, USB] });
  const { id: planId } = await seed.plan({ name: unique('plan'), gpuCount: 0 });
  const vmA = await vmRunning(unique('vm-a'), planId, host.id);
  const vmB = await vmRunning(unique('vm-b'), planId, host.id);
  const devices = await seed.devices(host.id);
  const byAddress = (address: string) => devices.find((d) => d.address === address)!.id;
  return { ...host, vmA, vmB, gpu: byAddress(GPU.address), audio: byAddress(AUDIO.address), usb: byAddress(USB.address) };
}

const status = async (id: string) => (await seed.device(id)).status;
const settled = (ids: string[], wanted: string) => eventually(async () => (await Promise.all(ids.map(status))).every((s) => s === wanted));

beforeAll(async () => {
  server = await startTestServer({ config: { operationTimeoutMs: 60_000, heartbeatTimeoutMs: 60_000, sweepIntervalMs: 100 } });
  seed = new Seed(server.client, server.url);
});
afterAll(() => server.stop());

describe('IOMMU groups stay whole', () => {
  it('never splits a group between two VMs: 47:00.0 to vm-a, then 47:00.1 to vm-b is refused', async () => {
    const { gpu, audio, vmA, vmB } = await hostWithGroup();
    const detached = await mutate('detachDevice', { deviceId: gpu });
    expect(detached.devices.map((d: { address: string }) => d.address).sort()).toEqual([GPU.address, AUDIO.address]);
    await settled([gpu, audio], 'DETACHED');

    const assigned = await mutate('assignDevice', { deviceId: gpu, vmId: vmA, withGroup: true });
    expect(assigned.__typename, assigned.message).toBe('DeviceOperationSuccess');
    expect(assigned.devices.map((d: { address: string }) => d.address).sort()).toEqual([GPU.address, AUDIO.address]);
    await settled([gpu, audio], 'ASSIGNED');
    const refusal = await expectRefused(
      'IommuGroupInUseError',
      () => mutate('assignDevice', { deviceId: audio, vmId: vmB }),
      /PCI 0000:47:00\.1 shares IOMMU group 21 with 0000:47:00\.0, which VM vm-a-\d+ holds/,
    );
    expect(refusal).toMatchObject({ deviceId: gpu });
  });

  it('refuses to assign a function without the rest of its group unless asked (withGroup), naming the members', async () => {
    const { gpu, audio, vmA } = await hostWithGroup();
    await mutate('detachDevice', { deviceId: gpu });
    await settled([gpu, audio], 'DETACHED');
    const refusal = await expectRefused(
      'IommuGroupMembersError',
      () => mutate('assignDevice', { deviceId: gpu, vmId: vmA }),
      /GPU 0000:47:00\.0 shares IOMMU group 21 with 0000:47:00\.1; .* assign them together \(withGroup: true\)/,
    );
    expect(refusal).toMatchObject({ deviceId: gpu, members: [{ id: audio, address: AUDIO.address }] });
  });

  it('releases the group with the device, and a VM teardown releases all of it', async () => {
    const { gpu, audio, vmA } = await hostWithGroup();
    await mutate('detachDevice', { deviceId: gpu });
    await settled([gpu, audio], 'DETACHED');
    await mutate('assignDevice', { deviceId: audio, vmId: vmA, withGroup: true });
    await settled([gpu, audio], 'ASSIGNED');
    const released = await mutate('releaseDevice', { deviceId: gpu });
    expect(released.devices.map((d: { address: string }) => d.address).sort()).toEqual([GPU.address, AUDIO.address]);
    await settled([gpu, audio], 'DETACHED');

    await mutate('assignDevice', { deviceId: gpu, vmId: vmA, withGroup: true });
    await settled([gpu, audio], 'ASSIGNED');
    await server.client.data(`mutation($id: ID!) { deleteVm(input: { vmId: $id }) { __typename } }`, { id: vmA });
    await settled([gpu, audio], 'DETACHED');
  });

  it("a provisioned VM takes its GPU's whole IOMMU group (the audio function too), and its teardown gives the group back", async () => {
    const { id: hostId, gpu, audio } = await hostWithGroup();
    await mutate('detachDevice', { deviceId: gpu });
    await settled([gpu, audio], 'DETACHED');
    const { id: planId } = await seed.plan({ name: unique('gpu-plan'), gpuCount: 1 });
    const { provisionVm } = await server.client.data(
      `mutation($input: ProvisionVmInput!) { provisionVm(input: $input) { __typename ... on VmOperationSuccess { vm { id } devices { address } } ... on Error { message } } }`,
      { input: { name: unique('vm-gpu'), planId, hostId } },
    );
    expect(provisionVm.__typename, provisionVm.message).toBe('VmOperationSuccess');
    expect(provisionVm.devices.map((d: { address: string }) => d.address).sort()).toEqual([GPU.address, AUDIO.address]);
    await settled([gpu, audio], 'ASSIGNED');
    expect((await seed.device(audio)).vm?.id).toBe(provisionVm.vm.id);

    await server.client.data(`mutation($id: ID!) { deleteVm(input: { vmId: $id }) { __typename } }`, { id: provisionVm.vm.id });
    await settled([gpu, audio], 'DETACHED');
  });

  it('the database refuses a group held by two VMs (devices_iommu_group_one_vm), whoever writes it', async () => {
    const { gpu, audio, vmA, vmB } = await hostWithGroup();
    await mutate('detachDevice', { deviceId: gpu });
    await settled([gpu, audio], 'DETACHED');
    const db = server.app.database.db;
    const rowId = (globalId: string) => Buffer.from(globalId, 'base64').toString().split(':')[1]!;
    await db.execute(sql`update devices set status = 'ASSIGNED', vm_id = ${rowId(vmA)} where id = ${rowId(gpu)}`);
    const split = db.execute(sql`update devices set status = 'ASSIGNED', vm_id = ${rowId(vmB)} where id = ${rowId(audio)}`);
    expect(await violatedBy(split)).toBe('devices_iommu_group_one_vm');
    // The same VM may hold the rest of its group.
    await db.execute(sql`update devices set status = 'ASSIGNED', vm_id = ${rowId(vmA)} where id = ${rowId(audio)}`);
    // Checked at commit: a transaction may move the whole group to another VM one row at a time.
    await db.transaction(async (tx) => {
      for (const device of [gpu, audio]) await tx.execute(sql`update devices set vm_id = ${rowId(vmB)} where id = ${rowId(device)}`);
    });
    expect(await queryRows(db, sql`select distinct vm_id from devices where id in (${rowId(gpu)}, ${rowId(audio)})`)).toEqual([{ vm_id: rowId(vmB) }]);
  });
});
