import { createServer, type AddressInfo } from 'node:net';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { HostdevRef } from '../../agent/backend.ts';
import { SimBackend, type SimHostConfig } from '../../agent/backends/sim/index.ts';
import { AgentClient } from '../../agent/client.ts';
import { graphqlWsUrl, loggableUrl } from '../../agent/connection.ts';
import type { OperationOutcomeEvent } from '../../agent/context.ts';
import { backoffDelay, retryUntilDone } from '../../agent/retry.ts';
import { WorkQueue } from '../../agent/work-queue.ts';
import { RotateHostToken } from '../../protocol/fleet.ts';
import { eventually } from '../support/client.ts';
import { startTestServer, type TestServer } from '../support/server.ts';
import { deviceAt, hostDevices, Seed, type SeededCluster } from '../support/seed.ts';
import { assignDevice, attachDevice, detachDevice, operation, operationEnded, provisionVm, repoRoot, TcpProxy, testLogger, vm } from './support.ts';

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
    expect(queue.push(job('inventory-a'), { key: 'inventory' })).toBe(true);
    expect(queue.push(job('inventory-b'), { key: 'inventory' })).toBe(false);
    queue.push(job('op-2'));
    await queue.idle();
    expect(log).toEqual(['start op-1', 'end op-1', 'start inventory-a', 'end inventory-a', 'start op-2', 'end op-2']);
  });

  it('jobs on different resources run at once; one on a resource in use waits its turn, in order', async () => {
    const log: string[] = [];
    const queue = new WorkQueue(() => {}, { maxRunning: 8 });
    const job = (name: string, ms: number) => async () => {
      log.push(`start ${name}`);
      await new Promise((r) => setTimeout(r, ms));
      log.push(`end ${name}`);
    };
    queue.push(job('vm-a provision', 30), { claim: { resources: ['vm:a', 'device:gpu-1'] } });
    queue.push(job('vm-b provision', 10), { claim: { resources: ['vm:b', 'device:gpu-2'] } });
    queue.push(job('vm-a teardown', 5), { claim: { resources: ['vm:a', 'device:gpu-1'] } });
    // Behind the teardown: it claims vm:a too, and keeps its place after it.
    queue.push(job('vm-a start', 5), { claim: { resources: ['vm:a'] } });
    queue.push(job('vm-c provision', 5), { claim: { resources: ['vm:c'] } });
    await Promise.resolve();
    await Promise.resolve();
    expect(queue.running).toBe(3);
    await queue.idle();
    expect(log.slice(0, 3)).toEqual(['start vm-a provision', 'start vm-b provision', 'start vm-c provision']);
    expect(log.indexOf('start vm-a teardown')).toBeGreaterThan(log.indexOf('end vm-a provision'));
    expect(log.indexOf('start vm-a start')).toBeGreaterThan(log.indexOf('end vm-a teardown'));
  });

  it('a whole-host job waits for the running ones and holds back every job queued after it', async () => {
    const log: string[] = [];
    const queue = new WorkQueue(() => {}, { maxRunning: 8 });
    const job = (name: string, ms = 5) => async () => {
      log.push(`start ${name}`);
      await new Promise((r) => setTimeout(r, ms));
      log.push(`end ${name}`);
    };
    queue.push(job('vm-a', 20), { claim: { resources: ['vm:a'] } });
    queue.push(job('inventory'), { key: 'inventory' });
    queue.push(job('vm-b'), { claim: { resources: ['vm:b'] } });
    await queue.idle();
    expect(log).toEqual(['start vm-a', 'end vm-a', 'start inventory', 'end inventory', 'start vm-b', 'end vm-b']);
  });

  it('runs at most maxRunning jobs at once', async () => {
    const queue = new WorkQueue(() => {}, { maxRunning: 2 });
    let running = 0;
    let most = 0;
    for (let i = 0; i < 6; i++) {
      queue.push(
        async () => {
          most = Math.max(most, ++running);
          await new Promise((r) => setTimeout(r, 5));
          running--;
        },
        { claim: { resources: [`vm:${i}`] } },
      );
    }
    await queue.idle();
    expect(most).toBe(2);
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
  let seed: Seed;
  let cluster: SeededCluster;
  const running: AgentClient[] = [];
  const proxies: TcpProxy[] = [];

  beforeAll(async () => {
    server = await startTestServer({ config: { operationTimeoutMs: 60_000, sweepIntervalMs: 200 } });
    seed = new Seed(server.client);
    cluster = await seed.cluster();
  });
  afterEach(async () => {
    await Promise.all(running.splice(0).map((agent) => agent.stop({ graceMs: 0 })));
    await Promise.all(proxies.splice(0).map((proxy) => proxy.close()));
  });
  afterAll(async () => {
    await server.stop();
  });

  async function agentFor(
    name: string,
    config: SimHostConfig,
    options: { serverUrl?: string; heartbeatIntervalMs?: number; restart?: { hostId: string; token: string; backend: SimBackend } } = {},
  ) {
    const { id: hostId, token } = options.restart ? { id: options.restart.hostId, token: options.restart.token } : await cluster.enroll(name);
    const backend = options.restart?.backend ?? new SimBackend({ ...config, name });
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
    const reported = new Promise<{ devices: number; vms: number | null }>((resolve) => agent.once('inventory', resolve));
    agent.start();
    const report = await reported;
    return { hostId, token, backend, agent, outcomes, report };
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
    const op = await operationEnded(server.client, await detachDevice(server.client, gpu.id));
    expect(op.status).toBe('SUCCEEDED');
    await eventually(async () => (await deviceAt(server.client, hostId, '0000:17:00.0')).driver === 'vfio-pci');
    expect((await deviceAt(server.client, hostId, '0000:17:00.1')).status).toBe('DETACHED');
    expect(backend.device('0000:17:00.1')!.driver).toBe('vfio-pci');
  });

  it("an operation's outcome carries the devices' new drivers, and no inventory report follows it", async () => {
    const { hostId, backend, outcomes } = await agentFor('client-observed', HOST);
    const reportsBefore = backend.callCount('inventory');
    const gpu = await deviceAt(server.client, hostId, '0000:7f:00.0');
    const detached = await detachDevice(server.client, gpu.id);
    // Settled in the outcome's own transaction: nothing else reported the new drivers.
    expect((await operationEnded(server.client, detached)).status).toBe('SUCCEEDED');
    for (const address of ['0000:7f:00.0', '0000:7f:00.1']) {
      expect(await deviceAt(server.client, hostId, address)).toMatchObject({ status: 'DETACHED', driver: 'vfio-pci' });
    }
    // The agent runs its jobs in order: a report queued after the detach would run before the attach.
    await attachDevice(server.client, gpu.id);
    await eventually(async () => outcomes.length === 2);
    expect(outcomes.map((o) => `${o.type} ${o.outcome}`)).toEqual(['DETACH succeeded', 'ATTACH succeeded']);
    expect(backend.callCount('inventory')).toBe(reportsBefore);
    expect(await deviceAt(server.client, hostId, '0000:7f:00.0')).toMatchObject({ status: 'ATTACHED', driver: 'nvidia' });
  });

  it('a backend failure completes the operation as FAILED with the host message, devices back where they were', async () => {
    const { hostId, outcomes } = await agentFor('client-fail', {
      ...HOST,
      faults: [{ operation: 'DETACH', message: 'vfio-pci 0000:17:00.0: probe failed with error -16' }],
    });
    const gpu = await deviceAt(server.client, hostId, '0000:17:00.0');
    const op = await operationEnded(server.client, await detachDevice(server.client, gpu.id));
    expect(op).toMatchObject({ status: 'FAILED', error: 'vfio-pci 0000:17:00.0: probe failed with error -16' });
    expect((await deviceAt(server.client, hostId, '0000:17:00.0')).status).toBe('ATTACHED');
    expect(outcomes).toEqual([{ id: op.id, type: 'DETACH', outcome: 'failed', error: 'vfio-pci 0000:17:00.0: probe failed with error -16' }]);
  });

  it('finishes an operation while the connection is down and reports it once reconnected, running it only once', async () => {
    const proxy = await TcpProxy.start(Number(new URL(server.url).port));
    proxies.push(proxy);
    const { hostId, backend, outcomes } = await agentFor('client-drop', { ...HOST, latencyMs: { detach: 1_500 } }, { serverUrl: proxy.url });
    const gpu = await deviceAt(server.client, hostId, '0000:17:00.0');
    const operationId = await detachDevice(server.client, gpu.id);
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
    // The server commits before the agent hears back: wait for the agent's own account.
    await eventually(async () => outcomes.length > 0);
    expect(outcomes.map((o) => o.outcome)).toEqual(['succeeded']);
  });

  it('an operation the server timed out meanwhile is completed by its late success, nothing having moved its devices', async () => {
    const timeoutServer = await startTestServer({ config: { operationTimeoutMs: 1_500, operationQueueTimeoutMs: 1_500, sweepIntervalMs: 200 } });
    try {
      const { id: hostId, token } = await new Seed(timeoutServer.client).cluster().enroll('client-timeout');
      const backend = new SimBackend({ ...HOST, name: 'client-timeout', latencyMs: { detach: 3_000 } });
      const agent = new AgentClient({ serverUrl: timeoutServer.url, token, backend, logger: testLogger(), backoff: FAST_BACKOFF });
      running.push(agent);
      const outcomes: OperationOutcomeEvent[] = [];
      agent.on('operation', (event) => outcomes.push(event));
      const reported = new Promise<void>((resolve) => agent.once('inventory', () => resolve()));
      agent.start();
      await reported;

      const gpu = await deviceAt(timeoutServer.client, hostId, '0000:17:00.0');
      const operationId = await detachDevice(timeoutServer.client, gpu.id);
      const op = await operationEnded(timeoutServer.client, operationId);
      expect(op.status).toBe('FAILED');
      expect(op.error).toMatch(/Timed out/);
      // The host did detach, and nothing moved the devices since: its late success is applied.
      await eventually(async () => (await deviceAt(timeoutServer.client, hostId, '0000:17:00.0')).status === 'DETACHED', 20_000);
      expect((await deviceAt(timeoutServer.client, hostId, '0000:17:00.1')).status).toBe('DETACHED');
      expect((await operation(timeoutServer.client, operationId)).status).toBe('SUCCEEDED');
      expect(outcomes).toEqual([{ id: operationId, type: 'DETACH', outcome: 'succeeded' }]);
    } finally {
      await timeoutServer.stop();
    }
  });

  it('stop() lets the operation in hand finish and report', async () => {
    const { hostId, agent } = await agentFor('client-stop', { ...HOST, latencyMs: { detach: 800 } });
    const gpu = await deviceAt(server.client, hostId, '0000:17:00.0');
    const operationId = await detachDevice(server.client, gpu.id);
    await eventually(async () => (await operation(server.client, operationId)).status === 'RUNNING');
    await agent.stop({ graceMs: 10_000 });
    expect((await operation(server.client, operationId)).status).toBe('SUCCEEDED');
    expect(agent.connected).toBe(false);
  });

  it("reports the host's domains: after an agent restart, VM power and assignments follow what the host really has", async () => {
    const config = { ...HOST, usb: [{ model: 'logitech-unifying' as const }] };
    const first = await agentFor('client-domains', config);
    expect(first.report).toMatchObject({ devices: 6, vms: 0 });
    const { hostId, backend } = first;
    const [gpu, audio, usb] = await Promise.all(['0000:17:00.0', '0000:17:00.1', '1-1'].map((address) => deviceAt(server.client, hostId, address)));
    for (const device of [gpu!, usb!]) {
      expect((await operationEnded(server.client, await detachDevice(server.client, device.id))).status).toBe('SUCCEEDED');
    }
    const { id: plan } = await seed.plan({ name: 'client-domains-cpu', cores: 4, memoryMb: 8192, diskGb: 20, gpuCount: 0 });
    const provisioned = await provisionVm(server.client, { name: 'vm-domains', planId: plan, hostId });
    expect((await operationEnded(server.client, provisioned.operationId)).status).toBe('SUCCEEDED');
    const assigned = await assignDevice(server.client, { deviceId: usb!.id, vmId: provisioned.vmId, withGroup: false });
    expect((await operationEnded(server.client, assigned)).status).toBe('SUCCEEDED');
    expect(await backend.vms()).toEqual([{ name: 'vm-domains', running: true, deviceAddresses: ['1-1'] }]);

    // While no agent runs, the host changes behind the server's back.
    await first.agent.stop({ graceMs: 0 });
    const inventory = await backend.inventory();
    const refOf = (address: string): HostdevRef => {
      const { kind, vendorId, productId } = inventory.find((d) => d.address === address)!;
      return { kind, address, vendorId, productId };
    };
    await backend.releaseDevice('vm-domains', refOf('1-1'));
    // The whole IOMMU group, as VFIO hands it over.
    await backend.assignDevice('vm-domains', refOf('0000:17:00.0'));
    await backend.assignDevice('vm-domains', refOf('0000:17:00.1'));
    await backend.stopVm('vm-domains');

    const second = await agentFor('client-domains', config, { restart: first });
    expect(second.report).toMatchObject({ devices: 6, vms: 1 });
    expect(await vm(server.client, provisioned.vmId)).toMatchObject({ status: 'STOPPED' });
    expect(await deviceAt(server.client, hostId, gpu!.address)).toMatchObject({ status: 'ASSIGNED', vm: { name: 'vm-domains' } });
    expect(await deviceAt(server.client, hostId, audio!.address)).toMatchObject({ status: 'ASSIGNED', vm: { name: 'vm-domains' } });
    expect(await deviceAt(server.client, hostId, usb!.address)).toMatchObject({ status: 'DETACHED', vm: null });
  });

  it('carries out operations on different VMs of one host at once', async () => {
    const { hostId, backend } = await agentFor('client-concurrent', HOST);
    // Each provision waits on the host until all three are under way: one at a time, each would wait out the 10 s.
    let inFlight = 0;
    let most = 0;
    let release = () => {};
    const allThree = new Promise<void>((resolve) => (release = resolve));
    const provision = backend.provisionVm.bind(backend);
    backend.provisionVm = async (spec) => {
      most = Math.max(most, ++inFlight);
      if (inFlight === 3) release();
      await Promise.race([allThree, new Promise((resolve) => setTimeout(resolve, 10_000))]);
      inFlight--;
      return provision(spec);
    };
    const { id: plan } = await seed.plan({ name: 'client-concurrent-cpu', cores: 4, memoryMb: 8192, diskGb: 20, gpuCount: 0 });
    const provisioned = [];
    for (const name of ['vm-c1', 'vm-c2', 'vm-c3']) provisioned.push(await provisionVm(server.client, { name, planId: plan, hostId }));
    for (const { operationId } of provisioned) expect((await operationEnded(server.client, operationId)).status).toBe('SUCCEEDED');
    expect(most).toBe(3);
  });

  it('reports the devices without the domains when the host cannot list them', async () => {
    const { hostId, backend, report } = await agentFor('client-no-domains', { ...HOST, faults: [{ operation: 'vms', times: 1 }] });
    expect(report).toMatchObject({ devices: 5, vms: null });
    expect(await hostDevices(server.client, hostId)).toHaveLength(5);
    expect(backend.callCount('vms')).toBe(1);
  });

  it('stopping while the socket is still connecting does not crash the agent', async () => {
    // A server that accepts TCP and never answers the upgrade: the agent's socket stays CONNECTING.
    const silent = createServer(() => {});
    await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
    const crashes: unknown[] = [];
    const onCrash = (error: unknown) => crashes.push(error);
    process.on('uncaughtException', onCrash);
    try {
      const { port } = silent.address() as AddressInfo;
      const backend = new SimBackend({ ...HOST, name: 'client-stop-connecting' });
      const agent = new AgentClient({ serverUrl: `http://127.0.0.1:${port}`, token: 'pth_host_test', backend, logger: testLogger(), backoff: FAST_BACKOFF });
      agent.start();
      await new Promise((resolve) => setTimeout(resolve, 200));
      await agent.stop({ graceMs: 0 });
      await new Promise((resolve) => setTimeout(resolve, 200));
      expect(crashes).toEqual([]);
    } finally {
      process.off('uncaughtException', onCrash);
      silent.close();
    }
  });

  it('a rotated token makes the agent stop with a fatal error', async () => {
    const { hostId, agent } = await agentFor('client-rotated', HOST, { heartbeatIntervalMs: 200 });
    const fatal = new Promise<Error>((resolve) => agent.once('fatal', resolve));
    const { rotateHostToken } = await server.client.data(RotateHostToken, { hostId });
    expect(rotateHostToken.__typename).toBe('EnrollHostSuccess');
    expect((await fatal).message).toMatch(/refused the host token \(4403/);
  });
});
