import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { SimBackend, type SimHostConfig } from '../../agent/backends/sim/index.ts';
import { AgentClient, graphqlWsUrl, loggableUrl, type OperationOutcomeEvent } from '../../agent/client.ts';
import { backoffDelay, retryUntilDone } from '../../agent/retry.ts';
import { WorkQueue } from '../../agent/work-queue.ts';
import { eventually } from '../support/client.ts';
import { startTestServer, type TestServer } from '../support/server.ts';
import { createCluster, deviceAt, deviceMutation, enroll, hostDevices, operation, operationEnded, TcpProxy, testLogger } from './support.ts';

describe('retry and queue logic', () => {
  it('backoff grows exponentially to a cap, with jitter in the upper half', () => {
    const options = { baseMs: 100, maxMs: 2_000 };
    expect([0, 1, 2, 3, 10].map((n) => backoffDelay(n, options, () => 0))).toEqual([50, 100, 200, 400, 1_000]);
    expect([0, 1, 2, 3, 10].map((n) => backoffDelay(n, options, () => 1))).toEqual([100, 200, 400, 800, 2_000]);
    expect(backoffDelay(1_000, options, () => 0.5)).toBe(1_500);
  });

  it('retries until the attempt reports done, and gives up (null) once aborted', async () => {
    let calls = 0;
    const value = await retryUntilDone(async () => (++calls < 3 ? { done: false, error: new Error('down') } : { done: true, value: 'ok' }), {
      backoff: { baseMs: 1, maxMs: 2 },
    });
    expect([value, calls]).toEqual(['ok', 3]);

    const abort = new AbortController();
    const retries: number[] = [];
    const pending = retryUntilDone(async () => ({ done: false, error: new Error('down') }), {
      backoff: { baseMs: 5, maxMs: 10 },
      signal: abort.signal,
      onRetry: (_e, n) => {
        retries.push(n);
        if (n === 2) abort.abort();
      },
    });
    expect(await pending).toBeNull();
    expect(retries).toEqual([0, 1, 2]);
  });

  it('runs jobs one at a time in order; a keyed job waiting already absorbs the next one', async () => {
    const log: string[] = [];
    const queue = new WorkQueue();
    const job = (name: string, ms = 5) => async () => {
      log.push(`start ${name}`);
      await new Promise((r) => setTimeout(r, ms));
      log.push(`end ${name}`);
    };
    queue.push(job('op-1'));
    expect(queue.push(job('inventory-a'), 'inventory')).toBe(true);
    expect(queue.push(job('inventory-b'), 'inventory')).toBe(false);
    queue.push(job('op-2'));
    await queue.idle();
    expect(log).toEqual(['start op-1', 'end op-1', 'start inventory-a', 'end inventory-a', 'start op-2', 'end op-2']);
  });

  it('a failing job does not stop the queue; close() drops what waits and refuses more', async () => {
    const errors: unknown[] = [];
    const ran: string[] = [];
    const queue = new WorkQueue((e) => errors.push(e));
    queue.push(async () => {
      throw new Error('boom');
    });
    queue.push(async () => {
      ran.push('after');
      await new Promise((r) => setTimeout(r, 20));
    });
    queue.push(async () => void ran.push('dropped'));
    await new Promise((r) => setTimeout(r, 5));
    expect(queue.close()).toBe(1);
    expect(queue.push(async () => void ran.push('refused'))).toBe(false);
    await queue.idle();
    expect(ran).toEqual(['after']);
    expect(errors).toHaveLength(1);
  });

  it('derives the WebSocket URL and never logs credentials in a URL', () => {
    expect(graphqlWsUrl('http://127.0.0.1:4000')).toBe('ws://127.0.0.1:4000/graphql');
    expect(graphqlWsUrl('https://passthru.example.com/')).toBe('wss://passthru.example.com/graphql');
    expect(graphqlWsUrl('https://passthru.example.com/api/graphql')).toBe('wss://passthru.example.com/api/graphql');
    expect(() => graphqlWsUrl('ftp://x')).toThrow(/http\(s\)/);
    expect(loggableUrl('https://user:secret@passthru.example.com/')).toBe('https://passthru.example.com/');
  });
});

const HOST: SimHostConfig = {
  name: 'client-test',
  gpus: [{ model: 'rtx-3090', count: 2 }],
  nvme: [{ model: 'samsung-pm9a3' }],
  latencyMs: 0,
};
const FAST_BACKOFF = { baseMs: 50, maxMs: 400 };

describe('AgentClient against the real server', () => {
  let server: TestServer;
  let clusterId: string;
  const running: AgentClient[] = [];
  const proxies: TcpProxy[] = [];

  beforeAll(async () => {
    server = await startTestServer({ config: { operationTimeoutMs: 60_000, sweepIntervalMs: 200 } });
    clusterId = await createCluster(server.client);
  });
  afterEach(async () => {
    await Promise.all(running.splice(0).map((agent) => agent.stop({ graceMs: 0 })));
    await Promise.all(proxies.splice(0).map((proxy) => proxy.close()));
  });
  afterAll(async () => {
    await server.stop();
  });

  async function agentFor(name: string, config: SimHostConfig, options: { serverUrl?: string; heartbeatIntervalMs?: number } = {}) {
    const { hostId, token } = await enroll(server.client, clusterId, name);
    const backend = new SimBackend({ ...config, name });
    const agent = new AgentClient({
      serverUrl: options.serverUrl ?? server.url,
      token,
      backend,
      logger: testLogger(),
      backoff: FAST_BACKOFF,
      keepAliveMs: 2_000,
      heartbeatIntervalMs: options.heartbeatIntervalMs ?? 1_000,
    });
    const outcomes: OperationOutcomeEvent[] = [];
    agent.on('operation', (event) => outcomes.push(event));
    running.push(agent);
    const reported = new Promise<void>((resolve) => agent.once('inventory', () => resolve()));
    agent.start();
    await reported;
    return { hostId, token, backend, agent, outcomes };
  }

  it('reports the inventory on connect and carries out an operation', async () => {
    const { hostId, backend } = await agentFor('client-basic', HOST);
    const devices = await hostDevices(server.client, hostId);
    expect(devices.map((d) => [d.address, d.kind, d.status, d.driver])).toEqual([
      ['0000:01:00.0', 'NVME', 'ATTACHED', 'nvme'],
      ['0000:17:00.0', 'GPU', 'ATTACHED', 'nvidia'],
      ['0000:17:00.1', 'PCI', 'ATTACHED', 'snd_hda_intel'],
      ['0000:7f:00.0', 'GPU', 'ATTACHED', 'nvidia'],
      ['0000:7f:00.1', 'PCI', 'ATTACHED', 'snd_hda_intel'],
    ]);
    const gpu = devices.find((d) => d.kind === 'GPU')!;
    const op = await operationEnded(server.client, await deviceMutation(server.client, 'detachDevice', { deviceId: gpu.id }));
    expect(op.status).toBe('SUCCEEDED');
    await eventually(async () => (await deviceAt(server.client, hostId, '0000:17:00.0')).driver === 'vfio-pci');
    expect((await deviceAt(server.client, hostId, '0000:17:00.1')).status).toBe('DETACHED');
    expect(backend.device('0000:17:00.1')!.driver).toBe('vfio-pci');
  });

  it('a backend failure completes the operation as FAILED with the host message, devices back where they were', async () => {
    const { hostId, outcomes } = await agentFor('client-fail', {
      ...HOST,
      faults: [{ operation: 'DETACH', message: 'vfio-pci 0000:17:00.0: probe failed with error -16' }],
    });
    const gpu = await deviceAt(server.client, hostId, '0000:17:00.0');
    const op = await operationEnded(server.client, await deviceMutation(server.client, 'detachDevice', { deviceId: gpu.id }));
    expect(op).toMatchObject({ status: 'FAILED', error: 'vfio-pci 0000:17:00.0: probe failed with error -16' });
    expect((await deviceAt(server.client, hostId, '0000:17:00.0')).status).toBe('ATTACHED');
    expect(outcomes).toEqual([{ id: op.id, type: 'DETACH', outcome: 'failed', error: 'vfio-pci 0000:17:00.0: probe failed with error -16' }]);
  });

  it('finishes an operation while the connection is down and reports it once reconnected, running it only once', async () => {
    const proxy = await TcpProxy.start(Number(new URL(server.url).port));
    proxies.push(proxy);
    const { hostId, backend, outcomes } = await agentFor('client-drop', { ...HOST, latencyMs: { detach: 1_500 } }, { serverUrl: proxy.url });
    const gpu = await deviceAt(server.client, hostId, '0000:17:00.0');
    const operationId = await deviceMutation(server.client, 'detachDevice', { deviceId: gpu.id });
    // Cut only once the host is at work: the server may show RUNNING before the agent has its answer.
    await eventually(async () => backend.callCount('detach') === 1);
    expect((await operation(server.client, operationId)).status).toBe('RUNNING');

    proxy.cut();
    // The host finishes the work while the agent cannot reach the server.
    await eventually(async () => backend.device('0000:17:00.0')!.driver === 'vfio-pci');
    expect((await operation(server.client, operationId)).status).toBe('RUNNING');

    proxy.restore();
    expect((await operationEnded(server.client, operationId)).status).toBe('SUCCEEDED');
    expect((await deviceAt(server.client, hostId, '0000:17:00.0')).status).toBe('DETACHED');
    // Reconnecting replayed the RUNNING operation, which was already in hand: not run twice.
    expect(backend.callCount('detach')).toBe(1);
    expect(outcomes.map((o) => o.outcome)).toEqual(['succeeded']);
  });

  it('an operation the server timed out meanwhile is settled by the inventory report that follows', async () => {
    const timeoutServer = await startTestServer({ config: { operationTimeoutMs: 1_500, sweepIntervalMs: 200 } });
    try {
      const cluster = await createCluster(timeoutServer.client);
      const { hostId, token } = await enroll(timeoutServer.client, cluster, 'client-timeout');
      const backend = new SimBackend({ ...HOST, name: 'client-timeout', latencyMs: { detach: 3_000 } });
      const agent = new AgentClient({ serverUrl: timeoutServer.url, token, backend, logger: testLogger(), backoff: FAST_BACKOFF });
      running.push(agent);
      const outcomes: OperationOutcomeEvent[] = [];
      agent.on('operation', (event) => outcomes.push(event));
      const reported = new Promise<void>((resolve) => agent.once('inventory', () => resolve()));
      agent.start();
      await reported;

      const gpu = await deviceAt(timeoutServer.client, hostId, '0000:17:00.0');
      const operationId = await deviceMutation(timeoutServer.client, 'detachDevice', { deviceId: gpu.id });
      const op = await operationEnded(timeoutServer.client, operationId);
      expect(op.status).toBe('FAILED');
      expect(op.error).toMatch(/Timed out/);
      // The host did detach; the report after the late completion makes the server agree.
      await eventually(async () => (await deviceAt(timeoutServer.client, hostId, '0000:17:00.0')).status === 'DETACHED', 20_000);
      expect((await deviceAt(timeoutServer.client, hostId, '0000:17:00.1')).status).toBe('DETACHED');
      expect(outcomes).toEqual([{ id: operationId, type: 'DETACH', outcome: 'settled' }]);
    } finally {
      await timeoutServer.stop();
    }
  });

  it('stop() lets the operation in hand finish and report', async () => {
    const { hostId, agent } = await agentFor('client-stop', { ...HOST, latencyMs: { detach: 800 } });
    const gpu = await deviceAt(server.client, hostId, '0000:17:00.0');
    const operationId = await deviceMutation(server.client, 'detachDevice', { deviceId: gpu.id });
    await eventually(async () => (await operation(server.client, operationId)).status === 'RUNNING');
    await agent.stop({ graceMs: 10_000 });
    expect((await operation(server.client, operationId)).status).toBe('SUCCEEDED');
    expect(agent.connected).toBe(false);
  });

  it('a rotated token makes the agent stop with a fatal error', async () => {
    const { hostId, agent } = await agentFor('client-rotated', HOST, { heartbeatIntervalMs: 200 });
    const fatal = new Promise<Error>((resolve) => agent.once('fatal', resolve));
    const { rotateHostToken } = await server.client.data(`mutation($id: ID!) { rotateHostToken(input: { hostId: $id }) { __typename } }`, { id: hostId });
    expect(rotateHostToken.__typename).toBe('EnrollHostSuccess');
    expect((await fatal).message).toMatch(/refused the host token \(4403/);
  });
});
