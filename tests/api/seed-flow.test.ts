import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { graphql } from '../../protocol/graphql.ts';
import { eventually, member } from '../support/client.ts';
import { Seed } from '../support/seed.ts';
import { startTestServer, type TestServer } from '../support/server.ts';

const DEVICE_SUCCESS = graphql(`fragment DeviceSuccess on DeviceOperationSuccess { operation { id type status } devices { id status } }`);
const DETACH = graphql(`mutation($id: ID!) { detachDevice(input: { deviceId: $id }) { __typename ...DeviceSuccess ... on Error { message } } }`, [DEVICE_SUCCESS]);
const ASSIGN = graphql(`mutation($d: ID!, $v: ID!) { assignDevice(input: { deviceId: $d, vmId: $v }) { __typename ...DeviceSuccess ... on Error { message } } }`, [DEVICE_SUCCESS]);
const RELEASE = graphql(`mutation($id: ID!) { releaseDevice(input: { deviceId: $id }) { __typename ...DeviceSuccess ... on Error { message } } }`, [DEVICE_SUCCESS]);
const ATTACH = graphql(`mutation($id: ID!) { attachDevice(input: { deviceId: $id }) { __typename ...DeviceSuccess ... on Error { message } } }`, [DEVICE_SUCCESS]);
const WATCH_HOST_DEVICES = graphql(`subscription($hostId: ID) { deviceChanged(hostId: $hostId) { device { id status vm { name } } } }`);
const PROVISION = graphql(`mutation($input: ProvisionVmInput!) { provisionVm(input: $input) { __typename ... on VmOperationSuccess { vm { id status host { id } } } ... on Error { message } } }`);
const VM_STATUS = graphql(`query($id: ID!) { vm(id: $id) { status } }`);
const VM_DEVICES = graphql(`query($id: ID!) { vm(id: $id) { devices { nodes { id status } } } }`);
const OPERATIONS = graphql(`{ operations(first: 10) { nodes { type status actor } } }`);
const DEVICE_HISTORY = graphql(`query($id: ID!) { node(id: $id) { __typename ... on Device { history { fromStatus toStatus actor } } } }`);

describe('the seed flow over HTTP and graphql-ws', () => {
  let server: TestServer;
  let seed: Seed;

  beforeAll(async () => {
    server = await startTestServer();
    seed = new Seed(server.client, server.url);
  });
  afterAll(() => server.stop());

  it('detaches a USB device, assigns it to a VM, releases and reattaches it, announcing every step live', async () => {
    const cluster = await seed.cluster('lab');
    const { id: hostId, agent } = await cluster.host({ name: 'gpu-node-1', usb: 1, gpus: 1 });
    const { id: planId } = await seed.plan({ name: 'cpu-only', gpuCount: 0 });
    const usb = (await seed.devices(hostId)).find((d) => d.kind === 'USB')!;
    expect(usb.status).toBe('ATTACHED');

    const watcher = server.client.subscribe(WATCH_HOST_DEVICES, { hostId });
    await new Promise((resolve) => setTimeout(resolve, 200)); // let the subscription register

    const detached = await server.client.data(DETACH, { id: usb.id });
    expect(detached.detachDevice.__typename).toBe('DeviceOperationSuccess');
    expect(member(detached.detachDevice, 'DeviceOperationSuccess').devices.map((d) => d.id)).toEqual([usb.id]);
    await watcher.next((e) => e.data?.deviceChanged.device.status === 'DETACHED');

    const { provisionVm } = await server.client.data(PROVISION, { input: { name: 'vm-1', planId, hostId } });
    expect(member(provisionVm, 'VmOperationSuccess').vm.host.id).toBe(hostId);
    const vmId = member(provisionVm, 'VmOperationSuccess').vm.id;
    await eventually(async () => (await server.client.data(VM_STATUS, { id: vmId })).vm!.status === 'RUNNING');

    const assigned = await server.client.data(ASSIGN, { d: usb.id, v: vmId });
    // The agent may already have finished by the time the payload resolves; the stream below sees every step.
    expect(['ASSIGNING', 'ASSIGNED']).toContain(member(assigned.assignDevice, 'DeviceOperationSuccess').devices[0]!.status);
    await watcher.next((e) => e.data?.deviceChanged.device.status === 'ASSIGNED' && e.data.deviceChanged.device.vm?.name === 'vm-1');
    const { vm } = await server.client.data(VM_DEVICES, { id: vmId });
    expect(vm!.devices.nodes).toEqual([{ id: usb.id, status: 'ASSIGNED' }]);

    await server.client.data(RELEASE, { id: usb.id });
    await watcher.next((e) => e.data?.deviceChanged.device.status === 'DETACHED' && e.data.deviceChanged.device.vm === null && watcher.events.indexOf(e) > 2);

    await server.client.data(ATTACH, { id: usb.id });
    await watcher.next((e) => e.data?.deviceChanged.device.status === 'ATTACHED');

    // Each event carries the device as it is when delivered, so a fast agent can fold an
    // in-flight step into the next; what arrives is always in order and ends each step settled.
    const FULL = ['DETACHING', 'DETACHED', 'ASSIGNING', 'ASSIGNED', 'RELEASING', 'DETACHED', 'ATTACHING', 'ATTACHED'];
    const seen = watcher.events.map((e) => e.data!.deviceChanged.device.status).filter((status, i, all) => status !== all[i - 1]);
    let cursor = 0;
    for (const status of seen) {
      cursor = FULL.indexOf(status, cursor) + 1;
      expect(cursor, `${status} out of order in ${seen.join(', ')}`).toBeGreaterThan(0);
    }
    expect(seen).toEqual(expect.arrayContaining(['DETACHED', 'ASSIGNED', 'ATTACHED']));
    expect(seen.at(-1)).toBe('ATTACHED');
    expect(agent.received.map((op) => op.type)).toEqual(['DETACH', 'PROVISION', 'ASSIGN', 'RELEASE', 'ATTACH']);

    const { operations } = await server.client.data(OPERATIONS);
    expect(operations.nodes.map((o) => o.type)).toEqual(['ATTACH', 'RELEASE', 'ASSIGN', 'PROVISION', 'DETACH']);
    expect(operations.nodes.every((o) => o.status === 'SUCCEEDED')).toBe(true);

    const history = await server.client.data(DEVICE_HISTORY, { id: usb.id });
    expect(member(history.node!, 'Device').history.map((h) => h.toStatus)).toEqual([
      'ATTACHED', 'ATTACHING', 'DETACHED', 'RELEASING', 'ASSIGNED', 'ASSIGNING', 'DETACHED', 'DETACHING', 'ATTACHED',
    ]);
    watcher.close();
    await agent.disconnect();
  });
});
