import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { eventually } from '../support/client.ts';
import { Seed } from '../support/seed.ts';
import { startTestServer, type TestServer } from '../support/server.ts';

const DEVICE_RESULT = `__typename ... on DeviceOperationSuccess { operation { id type status } devices { id status } } ... on Error { message }`;

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

    const watcher = server.client.subscribe(`subscription($hostId: ID) { deviceChanged(hostId: $hostId) { device { id status vm { name } } } }`, { hostId });
    await new Promise((resolve) => setTimeout(resolve, 200)); // let the subscription register

    const detached = await server.client.data(`mutation($id: ID!) { detachDevice(input: { deviceId: $id }) { ${DEVICE_RESULT} } }`, { id: usb.id });
    expect(detached.detachDevice.__typename).toBe('DeviceOperationSuccess');
    expect(detached.detachDevice.devices.map((d: { id: string }) => d.id)).toEqual([usb.id]);
    await watcher.next((e) => e.data?.deviceChanged.device.status === 'DETACHED');

    const { provisionVm } = await server.client.data(
      `mutation($input: ProvisionVmInput!) { provisionVm(input: $input) { __typename ... on VmOperationSuccess { vm { id status host { id } } } ... on Error { message } } }`,
      { input: { name: 'vm-1', planId, hostId } },
    );
    expect(provisionVm.vm.host.id).toBe(hostId);
    const vmId = provisionVm.vm.id;
    await eventually(async () => (await server.client.data(`query($id: ID!) { vm(id: $id) { status } }`, { id: vmId })).vm.status === 'RUNNING');

    const assigned = await server.client.data(
      `mutation($d: ID!, $v: ID!) { assignDevice(input: { deviceId: $d, vmId: $v }) { ${DEVICE_RESULT} } }`,
      { d: usb.id, v: vmId },
    );
    // The agent may already have finished by the time the payload resolves; the stream below sees every step.
    expect(['ASSIGNING', 'ASSIGNED']).toContain(assigned.assignDevice.devices[0].status);
    await watcher.next((e) => e.data?.deviceChanged.device.status === 'ASSIGNED' && e.data.deviceChanged.device.vm?.name === 'vm-1');
    const { vm } = await server.client.data(`query($id: ID!) { vm(id: $id) { devices { nodes { id status } } } }`, { id: vmId });
    expect(vm.devices.nodes).toEqual([{ id: usb.id, status: 'ASSIGNED' }]);

    await server.client.data(`mutation($id: ID!) { releaseDevice(input: { deviceId: $id }) { ${DEVICE_RESULT} } }`, { id: usb.id });
    await watcher.next((e) => e.data?.deviceChanged.device.status === 'DETACHED' && e.data.deviceChanged.device.vm === null && watcher.events.indexOf(e) > 2);

    await server.client.data(`mutation($id: ID!) { attachDevice(input: { deviceId: $id }) { ${DEVICE_RESULT} } }`, { id: usb.id });
    await watcher.next((e) => e.data?.deviceChanged.device.status === 'ATTACHED');

    // Each event carries the device as it is when delivered, so a fast agent can fold an
    // in-flight step into the next; what arrives is always in order and ends each step settled.
    const FULL = ['DETACHING', 'DETACHED', 'ASSIGNING', 'ASSIGNED', 'RELEASING', 'DETACHED', 'ATTACHING', 'ATTACHED'];
    const seen = watcher.events.map((e) => e.data?.deviceChanged.device.status as string).filter((status, i, all) => status !== all[i - 1]);
    let cursor = 0;
    for (const status of seen) {
      cursor = FULL.indexOf(status, cursor) + 1;
      expect(cursor, `${status} out of order in ${seen.join(', ')}`).toBeGreaterThan(0);
    }
    expect(seen).toEqual(expect.arrayContaining(['DETACHED', 'ASSIGNED', 'ATTACHED']));
    expect(seen.at(-1)).toBe('ATTACHED');
    expect(agent.received.map((op) => op.type)).toEqual(['DETACH', 'PROVISION', 'ASSIGN', 'RELEASE', 'ATTACH']);

    const { operations } = await server.client.data(`{ operations(first: 10) { nodes { type status actor } } }`);
    expect(operations.nodes.map((o: { type: string }) => o.type)).toEqual(['ATTACH', 'RELEASE', 'ASSIGN', 'PROVISION', 'DETACH']);
    expect(operations.nodes.every((o: { status: string }) => o.status === 'SUCCEEDED')).toBe(true);

    const history = await server.client.data(`query($id: ID!) { node(id: $id) { ... on Device { history { fromStatus toStatus actor } } } }`, { id: usb.id });
    expect(history.node.history.map((h: { toStatus: string }) => h.toStatus)).toEqual([
      'ATTACHED', 'ATTACHING', 'DETACHED', 'RELEASING', 'ASSIGNED', 'ASSIGNING', 'DETACHED', 'DETACHING', 'ATTACHED',
    ]);
    watcher.close();
    await agent.disconnect();
  });
});
