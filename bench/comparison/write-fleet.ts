// The write benchmark's fleet: hosts enrolled through the API, each served by a real
// AgentClient with the sim backend (agent/), which acknowledges every operation after a short
// simulated latency. One cluster of many hosts with 8 pooled GPUs each, and a scarce cluster:
// one host, 8 pooled GPUs, for which every client contends.
import { join } from 'node:path';
import { pino } from 'pino';
import { SimBackend } from '../../agent/backends/sim/index.ts';
import { AgentClient } from '../../agent/client.ts';
import { ClustersQuery } from '../../protocol/fleet.ts';
import type { TestClient } from '../../tests/support/client.ts';
import { Seed } from '../../tests/support/seed.ts';
import { ownQuery, type BenchDatabase } from '../support/database.ts';
import { enrollHosts } from '../support/fleet.ts';
import { onCleanup } from '../support/lifecycle.ts';
import { waitFor } from '../support/stats.ts';

/** How long the simulated host takes for every call: short, so the server's part shows. */
export const SIM_LATENCY_MS = 10;
export const GPUS_PER_HOST = 8;

const HARDWARE = {
  cpuCores: 128,
  memoryMb: 1024 * 1024,
  numaNodes: 2,
  gpus: [{ model: 'rtx-3090' as const, count: GPUS_PER_HOST, pooled: true }],
  nvme: [{ model: 'samsung-pm9a3' as const, count: 1 }],
};

export interface WriteFleet {
  clusterId: string;
  scarceClusterId: string;
  planId: string;
  /** The first host of the large cluster, for the single-device mutations. */
  firstHostId: string;
}

export async function startWriteFleet(options: { admin: TestClient; url: string; database: BenchDatabase; hosts: number; logDir: string }): Promise<WriteFleet> {
  const { admin } = options;
  const seed = new Seed(admin);
  const enrolled = await enrollHosts(admin, options.hosts, 16);
  const clusterId = await benchCluster(admin);
  const scarceCluster = await seed.cluster('scarce');
  const scarce = await scarceCluster.enroll('scarce-0');
  const destination = pino.destination({ dest: join(options.logDir, 'write-agents.log'), sync: false });
  const logger = pino({ level: 'warn' }, destination);
  const agents = [...enrolled, scarce].map(
    (host) =>
      new AgentClient({
        serverUrl: options.url,
        token: host.token,
        backend: new SimBackend({ ...HARDWARE, name: host.name, latencyMs: SIM_LATENCY_MS }, { logger }),
        logger,
      }),
  );
  onCleanup(async () => {
    await Promise.all(agents.map((agent) => agent.stop({ graceMs: 0 })));
    destination.flushSync();
  });
  for (const agent of agents) agent.start();
  const expected = agents.length * GPUS_PER_HOST;
  const ready = await waitFor(async () => (await freeGpus(options.database)) >= expected, 120_000, 250);
  if (!ready) throw new Error(`agents reported ${await freeGpus(options.database)} free GPUs of ${expected} within 2 minutes`);

  const plan = await seed.plan({ name: 'bench-gpu-1', provisionType: 'KVM', cores: 8, memoryMb: 32768, diskGb: 100, gpuCount: 1 });
  return { clusterId, scarceClusterId: scarceCluster.id, planId: plan.id, firstHostId: enrolled[0]?.id ?? '' };
}

/** The cluster enrollHosts made. */
async function benchCluster(admin: TestClient): Promise<string> {
  const { clusters } = await admin.data(ClustersQuery);
  return clusters.find((cluster) => cluster.name === 'bench')?.id ?? '';
}

async function freeGpus(database: BenchDatabase): Promise<number> {
  const [row] = await ownQuery(database, (sql) => sql<{ n: number }[]>`select count(*)::int as n from devices where kind = 'GPU' and status = 'DETACHED'`);
  return row?.n ?? 0;
}
