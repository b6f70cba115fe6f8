import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startDemoFleet, type DemoFleet } from '../../agent/demo.ts';
import { eventually } from '../support/client.ts';
import { startTestServer, type TestServer } from '../support/server.ts';
import { graphql } from '../../protocol/graphql.ts';
import { hostDevices } from '../support/seed.ts';
import { operationEnded, provisionVm, tempDir, testLogger, vm } from './support.ts';

const FleetView = graphql(`
  query FleetView { clusters { id name hosts { nodes { id name status } } } servicePlans { name provisionType gpuCount } }
`);

describe('the demo fleet', () => {
  let server: TestServer;
  const state = tempDir('passthru-demo-');
  const fleets: DemoFleet[] = [];

  beforeAll(async () => {
    server = await startTestServer();
  });
  afterAll(async () => {
    await Promise.all(fleets.map((fleet) => fleet.stop()));
    await server.stop();
    state.remove();
  });

  async function start() {
    const fleet = await startDemoFleet({ serverUrl: server.url, adminToken: server.client.token!, logger: testLogger(), latencyScale: 0, stateDir: state.path });
    fleets.push(fleet);
    return fleet;
  }

  async function fleetView() {
    return server.client.data(FleetView);
  }

  it('creates a demo cluster of three simulated hosts and its plans, with agents online', async () => {
    const fleet = await start();
    const view = await eventually(async () => {
      const v = await fleetView();
      return v.clusters[0]?.hosts.nodes.every((h) => h.status === 'ONLINE') ? v : null;
    });
    expect(view.clusters.map((c) => c.name)).toEqual(['demo']);
    expect(view.clusters[0]!.hosts.nodes.map((h) => h.name)).toEqual(['edge-node-1', 'gpu-node-1', 'gpu-node-2']);
    expect(view.servicePlans).toEqual([
      { name: 'cpu-only', provisionType: 'KVM', gpuCount: 0 },
      { name: 'gpu-duo', provisionType: 'KVM', gpuCount: 2 },
      { name: 'gpu-small', provisionType: 'KVM', gpuCount: 1 },
    ]);

    const node1 = fleet.hosts.find((h) => h.name === 'gpu-node-1')!;
    const devices = await eventually(async () => {
      const list = await hostDevices(server.client, node1.hostId);
      return list.length === 12 ? list : null;
    });
    const gpus = devices.filter((d) => d.kind === 'GPU');
    expect(gpus.map((d) => [d.numaNode, d.status])).toEqual([
      [0, 'DETACHED'],
      [0, 'DETACHED'],
      [1, 'ATTACHED'],
      [1, 'ATTACHED'],
    ]);
    const edge = fleet.hosts.find((h) => h.name === 'edge-node-1')!;
    expect((await hostDevices(server.client, edge.hostId)).map((d) => d.kind).sort()).toEqual(['NVME', 'NVME', 'USB', 'USB', 'USB', 'USB']);
  });

  it('provisions a gpu-duo VM through its agents', async () => {
    const [fleet] = fleets;
    const { vmId, operationId } = await provisionVm(server.client, { name: 'demo-duo', planId: fleet!.planIds['gpu-duo']!, clusterId: fleet!.clusterId });
    expect((await operationEnded(server.client, operationId)).status).toBe('SUCCEEDED');
    const running = (await vm(server.client, vmId))!;
    expect(running.status).toBe('RUNNING');
    // Two GPUs, each with its audio function (one IOMMU group each).
    expect(running.devices.map((d) => [d.kind, d.status])).toEqual([
      ['GPU', 'ASSIGNED'],
      ['PCI', 'ASSIGNED'],
      ['GPU', 'ASSIGNED'],
      ['PCI', 'ASSIGNED'],
    ]);
  });

  it('restarting reuses the cluster, hosts and plans by name, with fresh tokens, and the simulated hosts keep their VMs', async () => {
    const before = await fleetView();
    const first = fleets[0]!;
    await first.stop();
    const second = await start();
    expect(second.clusterId).toBe(first.clusterId);
    expect(second.hosts.map((h) => h.hostId)).toEqual(first.hosts.map((h) => h.hostId));
    expect(second.planIds).toEqual(first.planIds);
    await eventually(async () => (await fleetView()).clusters[0]!.hosts.nodes.every((h) => h.status === 'ONLINE'));
    const after = await fleetView();
    expect(after.clusters).toHaveLength(1);
    expect(after.clusters[0]!.hosts.nodes.map((h) => h.id)).toEqual(before.clusters[0]!.hosts.nodes.map((h) => h.id));
    expect(after.servicePlans).toEqual(before.servicePlans);
    // The state file kept the VM on its host, so the report after reconnecting agrees with the server.
    const node = second.hosts.find((h) => h.backend.domain('demo-duo'))!;
    expect(node.name).toBe('gpu-node-1');
    await eventually(async () => (await hostDevices(server.client, node.hostId)).filter((d) => d.status === 'ASSIGNED').length === 4);
  });
});
