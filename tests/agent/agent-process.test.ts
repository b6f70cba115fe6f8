// End to end: the real server, and real `passthru-agent --backend sim` processes talking to it
// over graphql-ws, driven through the public API as an operator would.

import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { SimHostConfig } from '../../agent/backends/sim/index.ts';
import { graphql } from '../../protocol/graphql.ts';
import { eventually } from '../support/client.ts';
import { startTestServer, type TestServer } from '../support/server.ts';
import { deviceAt, hostDevices, Seed, type SeededCluster } from '../support/seed.ts';
import {
  AgentProcess,
  assignDevice,
  attachDevice,
  deleteVm,
  detachDevice,
  operation,
  operationEnded,
  provisionVm,
  releaseDevice,
  tempDir,
  vm,
} from './support.ts';

const GPU_NODE: SimHostConfig = {
  numaNodes: 2,
  gpus: [{ model: 'rtx-3090', count: 4 }],
  usb: [{ model: 'logitech-unifying' }, { model: 'sandisk-ultra-fit' }],
  nvme: [{ model: 'samsung-pm9a3' }],
  latencyMs: 50,
};
// GPUs 0 and 1 sit on NUMA node 0, GPUs 2 and 3 on node 1; each has its audio function at .1.
const GPU = ['0000:17:00.0', '0000:47:00.0', '0000:87:00.0', '0000:b7:00.0'];
const audioOf = (address: string) => address.replace(/\.0$/, '.1');

const DeviceStatusChanged = graphql(`
  subscription DeviceStatusChanged($hostId: ID) { deviceChanged(hostId: $hostId) { device { address status } } }
`);

describe('a sim agent process', () => {
  let server: TestServer;
  let seed: Seed;
  let cluster: SeededCluster;
  const agents: AgentProcess[] = [];
  const dirs: ReturnType<typeof tempDir>[] = [];

  beforeAll(async () => {
    server = await startTestServer();
    seed = new Seed(server.client);
    cluster = await seed.cluster();
  });
  afterEach(async () => {
    await Promise.all(agents.splice(0).map((agent) => agent.stop()));
  });
  afterAll(async () => {
    await server.stop();
    for (const dir of dirs) dir.remove();
  });

  async function startAgent(name: string, config: SimHostConfig, options: { token?: string; args?: string[]; target?: TestServer } = {}) {
    const target = options.target ?? server;
    const dir = tempDir();
    dirs.push(dir);
    const { id: hostId, token } = options.token ? { id: '', token: options.token } : await cluster.enroll(name);
    const agent = AgentProcess.sim({ server: target.url, token, config: { name, ...config }, args: options.args ?? [], dir: dir.path });
    agents.push(agent);
    return { hostId, token, agent, dir: dir.path };
  }

  async function waitForInventory(hostId: string, count: number, target = server) {
    return eventually(async () => {
      const devices = await hostDevices(target.client, hostId);
      return devices.length === count ? devices : null;
    }, 30_000);
  }

  async function expectStatus(hostId: string, addresses: string[], status: string) {
    for (const address of addresses) expect([address, (await deviceAt(server.client, hostId, address)).status]).toEqual([address, status]);
  }

  it('walks detach, assign, release, attach, a 2-GPU provision and its teardown', async () => {
    const { hostId, agent } = await startAgent('e2e-gpu-node', GPU_NODE, { args: ['--sim-control', '0'] });
    const devices = await waitForInventory(hostId, 11);
    expect(devices.filter((d) => d.kind === 'GPU').map((d) => [d.address, d.numaNode, d.driver, d.status])).toEqual([
      [GPU[0], 0, 'nvidia', 'ATTACHED'],
      [GPU[1], 0, 'nvidia', 'ATTACHED'],
      [GPU[2], 1, 'nvidia', 'ATTACHED'],
      [GPU[3], 1, 'nvidia', 'ATTACHED'],
    ]);
    const gpu0 = await deviceAt(server.client, hostId, GPU[0]!);

    // detach → DETACHED, with the audio function of its IOMMU group
    expect((await operationEnded(server.client, await detachDevice(server.client, gpu0.id))).status).toBe('SUCCEEDED');
    await expectStatus(hostId, [GPU[0]!, audioOf(GPU[0]!)], 'DETACHED');
    await eventually(async () => (await deviceAt(server.client, hostId, GPU[0]!)).driver === 'vfio-pci');

    // a VM without GPUs to hand the GPU to
    const { id: cpuOnly } = await seed.plan({ name: 'e2e-cpu-only', cores: 4, memoryMb: 8192, diskGb: 20, gpuCount: 0 });
    const small = await provisionVm(server.client, { name: 'vm-cpu', planId: cpuOnly, hostId });
    expect((await operationEnded(server.client, small.operationId)).status).toBe('SUCCEEDED');
    expect((await vm(server.client, small.vmId))!.status).toBe('RUNNING');

    // assign → ASSIGNED with the audio function of its IOMMU group, and the host's domain really has both
    const assign = { deviceId: gpu0.id, vmId: small.vmId, withGroup: true };
    expect((await operationEnded(server.client, await assignDevice(server.client, assign))).status).toBe('SUCCEEDED');
    expect(await deviceAt(server.client, hostId, GPU[0]!)).toMatchObject({ status: 'ASSIGNED', vm: { name: 'vm-cpu' } });
    let state = await agent.control('/state');
    expect(state.domains).toEqual([{ name: 'vm-cpu', cores: 4, memoryMb: 8192, diskGb: 20, devices: expect.arrayContaining([GPU[0], audioOf(GPU[0]!)]), running: true }]);
    expect(state.domains[0].devices).toHaveLength(2);

    // release → DETACHED, the group with it
    expect((await operationEnded(server.client, await releaseDevice(server.client, gpu0.id))).status).toBe('SUCCEEDED');
    expect(await deviceAt(server.client, hostId, GPU[0]!)).toMatchObject({ status: 'DETACHED', vm: null });
    expect(await deviceAt(server.client, hostId, audioOf(GPU[0]!))).toMatchObject({ status: 'DETACHED', vm: null });
    expect((await agent.control('/state')).domains[0].devices).toEqual([]);

    // attach → ATTACHED, back on its own drivers
    expect((await operationEnded(server.client, await attachDevice(server.client, gpu0.id))).status).toBe('SUCCEEDED');
    await expectStatus(hostId, [GPU[0]!, audioOf(GPU[0]!)], 'ATTACHED');
    await eventually(async () => (await deviceAt(server.client, hostId, audioOf(GPU[0]!))).driver === 'snd_hda_intel');

    // a 2-GPU plan: pool the two GPUs of NUMA node 1, provision, get both
    for (const address of [GPU[2]!, GPU[3]!]) {
      const device = await deviceAt(server.client, hostId, address);
      expect((await operationEnded(server.client, await detachDevice(server.client, device.id))).status).toBe('SUCCEEDED');
    }
    const { id: duo } = await seed.plan({ name: 'e2e-gpu-duo', gpuCount: 2, cores: 16, memoryMb: 65536, diskGb: 200 });
    const big = await provisionVm(server.client, { name: 'vm-duo', planId: duo, clusterId: cluster.id });
    expect((await operationEnded(server.client, big.operationId)).status).toBe('SUCCEEDED');
    const running = (await vm(server.client, big.vmId))!;
    expect(running.status).toBe('RUNNING');
    // Each GPU with its audio function: VFIO passes an IOMMU group whole.
    expect(running.devices.map((d) => [d.address, d.kind, d.status])).toEqual([
      [GPU[2], 'GPU', 'ASSIGNED'],
      [audioOf(GPU[2]!), 'PCI', 'ASSIGNED'],
      [GPU[3], 'GPU', 'ASSIGNED'],
      [audioOf(GPU[3]!), 'PCI', 'ASSIGNED'],
    ]);
    state = await agent.control('/state');
    expect(state.domains.find((d: { name: string }) => d.name === 'vm-duo')).toEqual({
      name: 'vm-duo',
      cores: 16,
      memoryMb: 65536,
      diskGb: 200,
      devices: [GPU[2], audioOf(GPU[2]!), GPU[3], audioOf(GPU[3]!)],
      running: true,
    });

    // teardown → the GPUs go back to the pool, the domain is gone
    const teardown = await deleteVm(server.client, big.vmId);
    expect((await operationEnded(server.client, teardown.operationId)).status).toBe('SUCCEEDED');
    expect((await vm(server.client, big.vmId))!.status).toBe('DELETED');
    await expectStatus(hostId, [GPU[2]!, GPU[3]!], 'DETACHED');
    expect((await agent.control('/state')).domains.map((d: { name: string }) => d.name)).toEqual(['vm-cpu']);

    // SIGTERM: a clean stop, exit 0
    expect(await agent.stop()).toEqual({ code: 0, signal: null });
    expect(agent.logs.some((line) => line.msg === 'agent stopped')).toBe(true);
  });

  it('never logs the host token', async () => {
    const { hostId, token, agent } = await startAgent('e2e-token-hygiene', { gpus: [{ model: 'a100-80g' }], latencyMs: 0 }, { args: ['--log-level', 'trace'] });
    await waitForInventory(hostId, 1);
    await agent.stop();
    expect(agent.logs.length).toBeGreaterThan(3);
    expect(JSON.stringify(agent.logs)).not.toContain(token);
    expect(agent.stderr).not.toContain(token);
  });

  it('a device pulled from the host becomes MISSING, and ATTACHED again when plugged back', async () => {
    const { hostId, agent } = await startAgent('e2e-hotplug', GPU_NODE, { args: ['--sim-control', '0'] });
    await waitForInventory(hostId, 11);
    const changes = server.client.subscribe(DeviceStatusChanged, { hostId });
    try {
      // Let the subscription reach the server before anything changes.
      await new Promise((resolve) => setTimeout(resolve, 200));
      await agent.control('/devices/remove', { address: '1-2' });
      await changes.next((event) => event.data?.deviceChanged.device.address === '1-2' && event.data.deviceChanged.device.status === 'MISSING', 30_000);
      expect((await deviceAt(server.client, hostId, '1-2')).status).toBe('MISSING');

      await agent.control('/devices/plug', { address: '1-2' });
      await changes.next((event) => event.data?.deviceChanged.device.address === '1-2' && event.data.deviceChanged.device.status === 'ATTACHED', 30_000);
    } finally {
      changes.close();
    }
  });

  it('killed mid-operation, the next agent process replays the operation and completes it', async () => {
    const dir = tempDir();
    dirs.push(dir);
    const stateFile = join(dir.path, 'host-state.json');
    const { hostId, token, agent: first } = await startAgent('e2e-crash-replay', {
      ...GPU_NODE,
      stateFile,
      faults: [{ operation: 'DETACH', effect: 'die', phase: 'after' }],
    });
    await waitForInventory(hostId, 11);
    const gpu = await deviceAt(server.client, hostId, GPU[1]!);
    const operationId = await detachDevice(server.client, gpu.id);

    // The host bound the GPU to vfio-pci, then the agent died before telling the server.
    expect(await first.exited).toEqual({ code: null, signal: 'SIGKILL' });
    expect((await operation(server.client, operationId)).status).toBe('RUNNING');
    await expectStatus(hostId, [GPU[1]!, audioOf(GPU[1]!)], 'DETACHING');

    const { agent: second } = await startAgent('e2e-crash-replay', { ...GPU_NODE, stateFile }, { token });
    const op = await operationEnded(server.client, operationId);
    expect(op).toMatchObject({ status: 'SUCCEEDED', error: null });
    await expectStatus(hostId, [GPU[1]!, audioOf(GPU[1]!)], 'DETACHED');
    await second.waitForLog((line) => line.msg === 'operation started' && line.operationId === operationId);
    await eventually(async () => (await deviceAt(server.client, hostId, GPU[1]!)).driver === 'vfio-pci');
  });

  it('killed mid-operation and timed out by the server, the next inventory report settles the truth', async () => {
    const strict = await startTestServer({ config: { operationTimeoutMs: 1_500, operationQueueTimeoutMs: 1_500, sweepIntervalMs: 200 } });
    try {
      const { id: hostId, token } = await new Seed(strict.client).cluster().enroll('e2e-crash-timeout');
      const dir = tempDir();
      dirs.push(dir);
      const stateFile = join(dir.path, 'host-state.json');
      const { agent: first } = await startAgent(
        'e2e-crash-timeout',
        { ...GPU_NODE, stateFile, faults: [{ operation: 'DETACH', effect: 'die', phase: 'after' }] },
        { token, target: strict },
      );
      await waitForInventory(hostId, 11, strict);
      const gpu = (await hostDevices(strict.client, hostId)).find((d) => d.address === GPU[0])!;
      const operationId = await detachDevice(strict.client, gpu.id);
      expect((await first.exited).signal).toBe('SIGKILL');

      // Nobody answered: the server fails the operation and puts the devices back where they were...
      const op = await operationEnded(strict.client, operationId);
      expect(op.status).toBe('FAILED');
      expect(op.error).toMatch(/^Timed out after 1\.5 s running without an answer from the host's agent/);
      const reverted = await hostDevices(strict.client, hostId);
      expect(reverted.filter((d) => d.address === GPU[0] || d.address === audioOf(GPU[0]!)).map((d) => d.status)).toEqual(['ATTACHED', 'ATTACHED']);

      // ...but the host did bind them to vfio-pci; the new agent's report makes the server agree.
      await startAgent('e2e-crash-timeout', { ...GPU_NODE, stateFile }, { token, target: strict });
      await eventually(async () => {
        const devices = await hostDevices(strict.client, hostId);
        const group = devices.filter((d) => d.address === GPU[0] || d.address === audioOf(GPU[0]!));
        return group.every((d) => d.status === 'DETACHED' && d.driver === 'vfio-pci');
      }, 30_000);
      expect((await operation(strict.client, operationId)).status).toBe('FAILED');
    } finally {
      await Promise.all(agents.splice(0).map((agent) => agent.stop()));
      await strict.stop();
    }
  });

  it('exits 3 when the server refuses the token', async () => {
    const { agent } = await startAgent('e2e-bad-token', { latencyMs: 0 }, { token: 'pth_host_not-a-real-token' });
    expect(await agent.exited).toEqual({ code: 3, signal: null });
    expect(agent.logs.some((line) => line.msg === 'the server refuses this agent')).toBe(true);
  });
});
