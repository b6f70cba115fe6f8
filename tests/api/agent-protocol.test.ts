import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TestAgent } from '../support/agent.ts';
import { eventually } from '../support/client.ts';
import { Seed } from '../support/seed.ts';
import { startTestServer, type TestServer } from '../support/server.ts';

let server: TestServer;
let seed: Seed;

beforeAll(async () => {
  server = await startTestServer();
  seed = new Seed(server.client, server.url);
});
afterAll(() => server.stop());

describe('agent protocol', () => {
  it('replays unfinished operations, oldest first, when the agent reconnects', async () => {
    const cluster = await seed.cluster();
    const { id: hostId, token, agent } = await cluster.host({ name: 'replay-host', usb: 3 });
    const usb = await seed.devices(hostId);
    await agent.disconnect();

    // Operations queued while the agent is away (its host is still ONLINE for a moment).
    const queued: string[] = [];
    for (const device of usb.slice(0, 2)) {
      const { detachDevice } = await server.client.data(
        `mutation($id: ID!) { detachDevice(input: { deviceId: $id }) { ... on DeviceOperationSuccess { operation { id } } } }`,
        { id: device.id },
      );
      queued.push(detachDevice.operation.id);
    }

    const back = new TestAgent(server.url, token, agent.devices);
    back.respond = () => 'hold';
    await back.connect();
    await eventually(async () => back.received.length >= 2);
    expect(back.received.map((o) => o.id)).toEqual(queued);

    // One more arrives live after the replay, and nothing is delivered twice.
    const { detachDevice } = await server.client.data(
      `mutation($id: ID!) { detachDevice(input: { deviceId: $id }) { ... on DeviceOperationSuccess { operation { id } } } }`,
      { id: usb[2]!.id },
    );
    await eventually(async () => back.received.length >= 3);
    expect(back.received.map((o) => o.id)).toEqual([...queued, detachDevice.operation.id]);

    for (const operation of back.received) await back.complete(operation.id, true);
    for (const device of usb) expect((await seed.device(device.id)).status).toBe('DETACHED');
    await back.disconnect();
  });

  it('an operation the agent started but did not finish is replayed as RUNNING', async () => {
    const cluster = await seed.cluster();
    const { id: hostId, token, agent } = await cluster.host({ name: 'crash-host', nvme: 1 });
    agent.respond = () => 'hold';
    const [nvme] = await seed.devices(hostId);
    await server.client.data(`mutation($id: ID!) { detachDevice(input: { deviceId: $id }) { __typename } }`, { id: nvme!.id });
    await eventually(async () => agent.received.length === 1);
    const operationId = agent.received[0]!.id;
    const queued = await server.client.data(`query($id: ID!) { node(id: $id) { ... on Operation { createdAt deadlineAt } } }`, { id: operationId });
    const { startOperation } = await agent.client.data(
      `mutation($id: ID!) { startOperation(input: { operationId: $id }) { ... on Operation { status startedAt deadlineAt } } }`,
      { id: operationId },
    );
    // Queued, it may wait the queue timeout; picked up, its own timeout runs from then.
    expect(Date.parse(queued.node.deadlineAt) - Date.parse(queued.node.createdAt)).toBe(server.config.operationQueueTimeoutMs);
    expect(startOperation.status).toBe('RUNNING');
    expect(Date.parse(startOperation.deadlineAt) - Date.parse(startOperation.startedAt)).toBe(server.config.operationTimeoutMs);
    await agent.disconnect(); // the agent dies mid-operation

    const back = new TestAgent(server.url, token, agent.devices);
    back.respond = () => 'hold';
    await back.connect();
    await eventually(async () => back.received.length === 1);
    expect(back.received[0]).toMatchObject({ id: operationId, status: 'RUNNING', type: 'DETACH' });
    await back.complete(operationId, true);
    expect((await seed.device(nvme!.id)).status).toBe('DETACHED');
    await back.disconnect();
  });

  it('a silent host goes OFFLINE and its next heartbeat brings it back, announced on hostChanged', async () => {
    const quick = await startTestServer({ config: { heartbeatTimeoutMs: 600, heartbeatFlushIntervalMs: 50, sweepIntervalMs: 100 } });
    try {
      const quickSeed = new Seed(quick.client, quick.url);
      const { id: hostId, agent } = await quickSeed.cluster().host({ name: 'quiet-host', usb: 1 });
      const watch = quick.client.subscribe(`subscription($id: ID) { hostChanged(hostId: $id) { host { name status cpuCores } } }`, { id: hostId });
      // A report that changes the host's facts is announced: once one arrives, the subscription is live.
      let cpuCores = 64;
      await eventually(async () => {
        cpuCores += 1;
        await agent.client.data(`mutation($input: ReportInventoryInput!) { reportInventory(input: $input) { __typename } }`, {
          input: { facts: { cpuCores, memoryMb: 1024, iommuEnabled: true }, devices: agent.devices },
        });
        return watch.events.length > 0;
      });
      await watch.next((e) => e.data?.hostChanged.host.status === 'OFFLINE');
      expect((await quick.client.data(`query($id: ID!) { host(id: $id) { status } }`, { id: hostId })).host.status).toBe('OFFLINE');
      await agent.heartbeat();
      await watch.next((e) => e.data?.hostChanged.host.status === 'ONLINE');
      watch.close();
      await agent.disconnect();
    } finally {
      await quick.stop();
    }
  });
});
