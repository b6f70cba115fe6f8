import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sql } from 'drizzle-orm';
import { graphql } from '../../protocol/graphql.ts';
import { DEVICE_ACTIONS, TRANSITIONS, type DeviceStatus } from '../../server/domain/device-state.ts';
import { fakeHardware, type FakeDevice } from '../support/agent.ts';
import { eventually, member } from '../support/client.ts';
import { Seed } from '../support/seed.ts';
import { startTestServer, type TestServer } from '../support/server.ts';
import { stateSnapshot } from '../support/snapshot.ts';
import { NO_TIMERS, StatementLog } from '../support/statements.ts';

// The API says what is possible: Device.actions comes from the one state machine, each action
// enabled or with the reason the mutation would give; Device.inUse says what on the host holds it.

const GPU: FakeDevice = { kind: 'GPU', address: '0000:47:00.0', vendorId: '10de', productId: '2204', iommuGroup: 21, numaNode: 0, driver: 'nvidia' };
const AUDIO: FakeDevice = { kind: 'PCI', address: '0000:47:00.1', vendorId: '10de', productId: '1aef', iommuGroup: 21, numaNode: 0, driver: 'snd_hda_intel' };
const ROOT_DISK = "nvme0n1p2 is mounted at /; refusing to detach the host's root disk";
const NVME: FakeDevice = { kind: 'NVME', address: '0000:01:00.0', vendorId: '144d', productId: 'a80a', serial: 'S5GX-ROOT', iommuGroup: 7, driver: 'nvme', inUse: ROOT_DISK };
const USB: FakeDevice = { kind: 'USB', address: '1-1', vendorId: '046d', productId: 'c31c', serial: 'KB1', driver: 'usb' };

const DEVICE_VIEW = graphql(`fragment DeviceView on Device { id address status inUse iommuGroupMembers { id address } actions { action enabled reason deviceIds } }`);
const DEVICE = graphql(`query($id: ID!) { node(id: $id) { __typename ... on Device { ...DeviceView } } }`, [DEVICE_VIEW]);
const HOST_DEVICES = graphql(`query($id: ID!) { host(id: $id) { devices(first: 50) { nodes { ...DeviceView } } } }`, [DEVICE_VIEW]);
const DETACH = graphql(`mutation($id: ID!) { detachDevice(input: { deviceId: $id }) { __typename } }`);
const DETACH_IN_USE = graphql(`mutation($id: ID!) { detachDevice(input: { deviceId: $id }) { __typename ... on Error { message } ... on DeviceInUseError { deviceId inUse } } }`);
const PROVISION = graphql(`mutation($input: ProvisionVmInput!) { provisionVm(input: $input) { __typename ... on VmOperationSuccess { vm { id name } } } }`);

const statements = new StatementLog();
let server: TestServer;
let seed: Seed;
let counter = 0;
const unique = (prefix: string) => `${prefix}-${++counter}`;

async function device(id: string) {
  return member((await server.client.data(DEVICE, { id })).node!, 'Device');
}

async function hostWith(hardware: FakeDevice[]) {
  const cluster = await seed.cluster(unique('cluster'));
  const host = await cluster.host({ name: unique('host'), devices: hardware });
  const devices = await seed.devices(host.id);
  const idOf = (address: string) => devices.find((d) => d.address === address)!.id;
  return { ...host, idOf };
}

const rowId = (globalId: string) => Buffer.from(globalId, 'base64').toString().split(':')[1]!;
const settled = (id: string, status: DeviceStatus) => eventually(async () => (await seed.device(id)).status === status);

beforeAll(async () => {
  server = await startTestServer({ config: { operationTimeoutMs: 60_000, heartbeatTimeoutMs: 60_000, ...NO_TIMERS }, onQuery: statements.onQuery });
  seed = new Seed(server.client, server.url);
});
afterAll(() => server.stop());

describe('Device.actions', () => {
  it('offers exactly the actions the state machine starts from the device status, enabled', async () => {
    const { idOf, agent } = await hostWith([USB]);
    const usb = idOf(USB.address);
    const offered = (status: DeviceStatus) => DEVICE_ACTIONS.filter((action) => TRANSITIONS[action].from === status);
    const expectOffers = async (status: DeviceStatus) => {
      const view = await device(usb);
      expect(view.status).toBe(status);
      expect(view.actions).toEqual(offered(status).map((action) => ({ action, enabled: true, reason: null, deviceIds: [usb] })));
    };
    await expectOffers('ATTACHED');
    agent.respond = () => 'hold';
    await server.client.data(DETACH, { id: usb });
    // In flight: the table starts nothing from DETACHING.
    await expectOffers('DETACHING');
    // The operation reaches the agent over its subscription some time after the mutation answers.
    await eventually(async () => agent.received.length === 1);
    await agent.complete(agent.received[0]!.id, true);
    await settled(usb, 'DETACHED');
    await expectOffers('DETACHED');
  });

  it('disables every action of a device on an OFFLINE host, saying why', async () => {
    const { idOf, id: hostId } = await hostWith([USB]);
    await server.app.database.db.execute(sql`update hosts set status = 'OFFLINE' where id = ${rowId(hostId)}`);
    const view = await device(idOf(USB.address));
    expect(view.actions).toHaveLength(1);
    for (const option of view.actions) {
      expect(option.enabled).toBe(false);
      expect(option.reason).toMatch(/^Host host-\d+ is offline; its agent must be connected/);
    }
  });

  it('says what on the host holds a device (inUse), disables its detach with that reason, and detachDevice refuses it with DeviceInUseError', async () => {
    const { idOf } = await hostWith([NVME, USB]);
    const nvme = idOf(NVME.address);
    const view = await device(nvme);
    expect(view.inUse).toBe(ROOT_DISK);
    expect(view.actions).toEqual([{ action: 'DETACH', enabled: false, reason: `NVME 0000:01:00.0 is in use by the host: ${ROOT_DISK}; free it on the host first`, deviceIds: [nvme] }]);

    const before = await stateSnapshot(server.app.database.db);
    const { detachDevice } = await server.client.data(DETACH_IN_USE, { id: nvme });
    expect(detachDevice).toEqual({ __typename: 'DeviceInUseError', message: view.actions[0]!.reason, deviceId: nvme, inUse: ROOT_DISK });
    expect(await stateSnapshot(server.app.database.db)).toEqual(before);
    // A device the host uses is not offered for detach anywhere else either; another device is.
    expect((await device(idOf(USB.address))).actions).toMatchObject([{ action: 'DETACH', enabled: true }]);
  });

  it('lists the IOMMU group an action moves, and disables what a group member held by a VM forbids', async () => {
    const { idOf, id: hostId } = await hostWith([GPU, AUDIO]);
    const [gpu, audio] = [idOf(GPU.address), idOf(AUDIO.address)];
    const view = await device(gpu);
    expect(view.iommuGroupMembers.map((member) => member.address)).toEqual([GPU.address, AUDIO.address].sort((a, b) => (idOf(a) < idOf(b) ? -1 : 1)));
    expect(view.actions).toEqual([{ action: 'DETACH', enabled: true, reason: null, deviceIds: view.iommuGroupMembers.map((member) => member.id) }]);

    await server.client.data(DETACH, { id: gpu });
    await settled(audio, 'DETACHED');
    const detached = await device(audio);
    expect(detached.actions.map((option) => [option.action, option.enabled, [...option.deviceIds].sort()])).toEqual([
      ['ATTACH', true, [gpu, audio].sort()],
      ['ASSIGN', true, [gpu, audio].sort()],
    ]);

    // A VM holds the GPU (as the host reported it): its audio function can go nowhere else.
    const { id: planId } = await seed.plan({ name: unique('plan'), gpuCount: 0 });
    const provisionVm = member((await server.client.data(PROVISION, { input: { name: unique('vm'), planId, hostId } })).provisionVm, 'VmOperationSuccess');
    await server.app.database.db.execute(sql`update devices set status = 'ASSIGNED', vm_id = ${rowId(provisionVm.vm.id)} where id = ${rowId(gpu)}`);
    const { actions } = await device(audio);
    expect(actions).toEqual([
      { action: 'ATTACH', enabled: false, reason: `GPU 0000:47:00.0 cannot be attached: it is assigned to ${provisionVm.vm.name}; release it first`, deviceIds: expect.arrayContaining([gpu, audio]) },
      {
        action: 'ASSIGN',
        enabled: false,
        reason: `PCI 0000:47:00.1 shares IOMMU group 21 with 0000:47:00.0, which VM ${provisionVm.vm.name} holds; VFIO passes a whole group to one VM, so release it there first`,
        deviceIds: [audio],
      },
    ]);
  });

  it('costs the same number of SQL statements for a host of 2 devices as for one of 12', async () => {
    // The least of two runs: the first may also look the client's token up again.
    const count = async (hostId: string) => {
      const runs = [];
      for (let run = 0; run < 2; run++) runs.push((await statements.during(() => server.client.data(HOST_DEVICES, { id: hostId }))).length);
      return Math.min(...runs);
    };
    const small = await hostWith(fakeHardware({ gpus: 1, usb: 1 }));
    const large = await hostWith([...fakeHardware({ gpus: 4, usb: 4, nvme: 2 }), GPU, AUDIO]);
    expect(await count(large.id)).toBe(await count(small.id));
    expect(await count(large.id)).toBe(1);
  });
});
