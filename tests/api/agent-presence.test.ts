import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { graphql } from '../../protocol/graphql.ts';
import { eventually } from '../support/client.ts';
import { Seed } from '../support/seed.ts';
import { startTestServer, type TestServer } from '../support/server.ts';

const HOST_STATUS = graphql(`query($id: ID!) { host(id: $id) { status } }`);
const DETACH = graphql(`mutation($id: ID!) { detachDevice(input: { deviceId: $id }) { __typename } }`);
const HEARTBEAT = graphql(`mutation { heartbeat { __typename } }`);

// The heartbeat timeout stays at the test servers' ten minutes: only the closed connection can
// take a host OFFLINE within these tests.
describe("a host goes OFFLINE a few seconds after its agent's connection closes", () => {
  let server: TestServer;
  let seed: Seed;

  beforeAll(async () => {
    server = await startTestServer({ config: { agentDisconnectGraceMs: 400, heartbeatFlushIntervalMs: 100 } });
    seed = new Seed(server.client, server.url);
  });
  afterAll(() => server.stop());

  const status = async (hostId: string) => (await server.client.data(HOST_STATUS, { id: hostId })).host!.status;

  it('after the grace, long before the heartbeat timeout, and commands on it are refused at once', async () => {
    const { id: hostId, agent } = await seed.cluster().host({ name: 'leaves', usb: 1 });
    const [usb] = await seed.devices(hostId);
    expect(await status(hostId)).toBe('ONLINE');

    await agent.disconnect();
    await eventually(async () => (await status(hostId)) === 'OFFLINE', 5000, 50);
    const { detachDevice } = await server.client.data(DETACH, { id: usb!.id });
    expect(detachDevice.__typename).toBe('HostOfflineError');
  });

  it('an agent that reconnects within the grace keeps its host ONLINE', async () => {
    const { id: hostId, agent } = await seed.cluster().host({ name: 'blinks', usb: 1 });
    await agent.disconnect();
    await agent.connect();
    await new Promise((resolve) => setTimeout(resolve, 1000));
    expect(await status(hostId)).toBe('ONLINE');
    await agent.disconnect();
  });

  it('an agent heard of elsewhere after the close (another server process) keeps its host ONLINE', async () => {
    const { id: hostId, agent } = await seed.cluster().host({ name: 'moves', usb: 1 });
    await agent.disconnect();
    await new Promise((resolve) => setTimeout(resolve, 100)); // the server has seen the socket close
    // Its heartbeat over HTTP, as it would reach another process behind the load balancer.
    const { heartbeat } = await agent.client.data(HEARTBEAT);
    expect(heartbeat.__typename).toBe('Host');
    await new Promise((resolve) => setTimeout(resolve, 1000));
    expect(await status(hostId)).toBe('ONLINE');
  });
});
