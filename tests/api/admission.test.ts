import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type TestAgent } from '../support/agent.ts';
import { graphql } from '../../protocol/graphql.ts';
import { eventually, member } from '../support/client.ts';
import { Seed } from '../support/seed.ts';
import { startTestServer, type TestServer } from '../support/server.ts';

const DETACH = graphql(`mutation($id: ID!) { detachDevice(input: { deviceId: $id }) {
  __typename ... on DeviceOperationSuccess { operation { id } } ... on HostBusyError { message queued limit hostId } } }`);
const OPERATION = graphql(`query($id: ID!) { node(id: $id) { __typename ... on Operation { status error queuePosition } } }`);
const START = graphql(`mutation($id: ID!) { startOperation(input: { operationId: $id }) { __typename } }`);
const HOST_OPERATIONS = graphql(`query($h: ID!) { operations(filter: { hostId: $h }) { nodes { id } } }`);

/** A host whose agent holds every operation it is sent, with `usb` USB devices. */
async function heldHost(server: TestServer, name: string, usb: number): Promise<{ hostId: string; agent: TestAgent; devices: { id: string; status: string }[] }> {
  const seed = new Seed(server.client, server.url);
  const { id: hostId, agent } = await seed.cluster().host({ name, usb });
  agent.respond = () => 'hold';
  return { hostId, agent, devices: await seed.devices(hostId) };
}

describe('admission control: a bounded queue per host', () => {
  let server: TestServer;

  beforeAll(async () => {
    server = await startTestServer({ config: { maxQueuedOperationsPerHost: 2 } });
  });
  afterAll(() => server.stop());

  const operation = async (id: string) => member((await server.client.data(OPERATION, { id })).node!, 'Operation');

  it('an operation past the bound is refused with HostBusyError saying how busy the host is, and changes nothing', async () => {
    const { hostId, devices } = await heldHost(server, 'busy', 3);
    const accepted = [];
    for (const device of devices.slice(0, 2)) accepted.push((await server.client.data(DETACH, { id: device.id })).detachDevice);
    expect(accepted.map((a) => a.__typename)).toEqual(['DeviceOperationSuccess', 'DeviceOperationSuccess']);

    const { detachDevice } = await server.client.data(DETACH, { id: devices[2]!.id });
    expect(detachDevice).toEqual({
      __typename: 'HostBusyError',
      hostId,
      queued: 2,
      limit: 2,
      message: 'The host has 2 operations queued or running, its limit of 2; try again when some have finished',
    });
    const [, , refused] = await new Seed(server.client, server.url).devices(hostId);
    expect(refused!.status).toBe('ATTACHED');
    const { operations } = await server.client.data(HOST_OPERATIONS, { h: hostId });
    expect(operations.nodes).toHaveLength(2);
  });

  it('a pending operation shows its place in the queue, and leaves it when its agent picks it up', async () => {
    const { agent, devices } = await heldHost(server, 'queue', 2);
    const ids: string[] = [];
    for (const device of devices) ids.push(member((await server.client.data(DETACH, { id: device.id })).detachDevice, 'DeviceOperationSuccess').operation.id);
    expect((await Promise.all(ids.map(operation))).map((o) => o.queuePosition)).toEqual([1, 2]);

    expect((await agent.client.data(START, { id: ids[0]! })).startOperation.__typename).toBe('Operation');
    expect((await Promise.all(ids.map(operation))).map((o) => [o.status, o.queuePosition])).toEqual([['RUNNING', null], ['PENDING', 1]]);
  });
});

describe('a queued operation waits out the queue timeout; its run timeout starts when its agent picks it up', () => {
  let server: TestServer;

  beforeAll(async () => {
    server = await startTestServer({ config: { operationQueueTimeoutMs: 2000, operationTimeoutMs: 60_000, sweepIntervalMs: 100 } });
  });
  afterAll(() => server.stop());

  const operation = async (id: string) => member((await server.client.data(OPERATION, { id })).node!, 'Operation');

  it('one never picked up fails after the queue timeout, one picked up runs on under its own timeout', async () => {
    const { agent, devices } = await heldHost(server, 'slow-agent', 2);
    const [waiting, picked] = await Promise.all(devices.map(async (d) => member((await server.client.data(DETACH, { id: d.id })).detachDevice, 'DeviceOperationSuccess').operation.id));
    await agent.client.data(START, { id: picked! });
    const failed = await eventually(async () => {
      const o = await operation(waiting!);
      return o.status === 'FAILED' ? o : null;
    }, 15_000);
    expect(failed.error).toBe("The host's agent did not pick it up within 2.0 s (the queue timeout); nothing was done on the host");
    expect((await operation(picked!)).status).toBe('RUNNING');
  });
});
