import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TestAgent } from '../support/agent.ts';
import { graphql } from '../../protocol/graphql.ts';
import { eventually, member } from '../support/client.ts';
import { Seed } from '../support/seed.ts';
import { startTestServer, type TestServer } from '../support/server.ts';

const DETACH_OPERATION = graphql(`mutation($id: ID!) { detachDevice(input: { deviceId: $id }) { __typename ... on DeviceOperationSuccess { operation { id } } } }`);
const DETACH = graphql(`mutation($id: ID!) { detachDevice(input: { deviceId: $id }) { __typename } }`);
const OPERATION_TIMES = graphql(`query($id: ID!) { node(id: $id) { __typename ... on Operation { createdAt deadlineAt } } }`);
const START_OPERATION = graphql(`mutation($id: ID!) { startOperation(input: { operationId: $id }) { __typename ... on Operation { status startedAt deadlineAt } } }`);
const WATCH_HOST = graphql(`subscription($id: ID) { hostChanged(hostId: $id) { host { name status cpuCores } } }`);
const REPORT_INVENTORY = graphql(`mutation($input: ReportInventoryInput!) { reportInventory(input: $input) { __typename } }`);
const HOST_STATUS = graphql(`query($id: ID!) { host(id: $id) { status } }`);

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
      const { detachDevice } = await server.client.data(DETACH_OPERATION, { id: device.id });
      queued.push(member(detachDevice, 'DeviceOperationSuccess').operation.id);
    }

    const back = new TestAgent(server.url, token, agent.devices);
    back.respond = () => 'hold';
    await back.connect();
    await eventually(async () => back.received.length >= 2);
    expect(back.received.map((o) => o.id)).toEqual(queued);

    // One more arrives live after the replay, and nothing is delivered twice.
    const detachDevice = member((await server.client.data(DETACH_OPERATION, { id: usb[2]!.id })).detachDevice, 'DeviceOperationSuccess');
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
    await server.client.data(DETACH, { id: nvme!.id });
    await eventually(async () => agent.received.length === 1);
    const operationId = agent.received[0]!.id;
    const queued = member((await server.client.data(OPERATION_TIMES, { id: operationId })).node!, 'Operation');
    const startOperation = member((await agent.client.data(START_OPERATION, { id: operationId })).startOperation, 'Operation');
    // Queued, it may wait the queue timeout; picked up, its own timeout runs from then.
    expect(Date.parse(queued.deadlineAt) - Date.parse(queued.createdAt)).toBe(server.config.operationQueueTimeoutMs);
    expect(startOperation.status).toBe('RUNNING');
    expect(Date.parse(startOperation.deadlineAt) - Date.parse(startOperation.startedAt!)).toBe(server.config.operationTimeoutMs);
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
      const watch = quick.client.subscribe(WATCH_HOST, { id: hostId });
      // A report that changes the host's facts is announced: once one arrives, the subscription is live.
      let cpuCores = 64;
      await eventually(async () => {
        cpuCores += 1;
        await agent.client.data(REPORT_INVENTORY, {
          input: { facts: { cpuCores, memoryMb: 1024, iommuEnabled: true }, devices: agent.devices },
        });
        return watch.events.length > 0;
      });
      await watch.next((e) => e.data?.hostChanged.host.status === 'OFFLINE');
      expect((await quick.client.data(HOST_STATUS, { id: hostId })).host!.status).toBe('OFFLINE');
      await agent.heartbeat();
      await watch.next((e) => e.data?.hostChanged.host.status === 'ONLINE');
      watch.close();
      await agent.disconnect();
    } finally {
      await quick.stop();
    }
  });
});
