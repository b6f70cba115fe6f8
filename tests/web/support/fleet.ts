import { fakeHardware, type TestAgent } from '../../support/agent.ts';
import type { TestClient } from '../../support/client.ts';
import { Seed } from '../../support/seed.ts';

export interface Fleet {
  clusterId: string;
  hosts: { name: string; hostId: string; agent: TestAgent }[];
  /** Stops heartbeats and disconnects the agents. */
  stop(): Promise<void>;
}

/**
 * A small lab for the console: two KVM hosts played by TestAgents that heartbeat like real
 * agents and answer each operation after `latencyMs`, so in-flight states are on screen long
 * enough to see (and to assert) before they settle.
 */
export async function seedFleet(client: TestClient, url: string, options: { latencyMs?: number } = {}): Promise<Fleet> {
  const seed = new Seed(client, url);
  const cluster = await seed.cluster('lab');
  const specs = [
    { name: 'kvm-a', hardware: fakeHardware({ gpus: 4, usb: 2, nvme: 1, numaNodes: 2 }) },
    { name: 'kvm-b', hardware: fakeHardware({ gpus: 2, usb: 1, nvme: 2, gpuModel: ['10de', '20b5'] }) },
  ];
  // The second host carries a different GPU model, named like the real thing.
  for (const device of specs[1]!.hardware) if (device.kind === 'GPU') device.productName = 'GA100 [A100 PCIe 80GB]';
  const hosts: Fleet['hosts'] = [];
  for (const spec of specs) {
    const { id: hostId, agent } = await cluster.host({ name: spec.name, devices: spec.hardware });
    const latency = options.latencyMs ?? 0;
    if (latency > 0) {
      agent.respond = (operation) => {
        setTimeout(() => void agent.complete(operation.id, true).catch(() => {}), latency);
        return 'hold';
      };
    }
    hosts.push({ name: spec.name, hostId, agent });
  }
  const heartbeat = setInterval(() => {
    for (const host of hosts) void host.agent.heartbeat().catch(() => {});
  }, 5_000);
  return {
    clusterId: cluster.id,
    hosts,
    async stop() {
      clearInterval(heartbeat);
      for (const host of hosts) await host.agent.disconnect();
    },
  };
}
