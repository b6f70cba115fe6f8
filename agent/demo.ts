// The demo fleet: a cluster of simulated KVM hosts, each served by the real AgentClient over
// the public API, so `npm run demo` (scripts/demo.ts) shows a live console with nothing but Node installed.
// Everything is created by name and reused on restart, so restarting the server does not
// duplicate the cluster, its hosts or its plans.

import { createHash } from 'node:crypto';
import { mkdirSync, readdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { print } from 'graphql';
import type { Logger } from 'pino';
import type { TadaDocumentNode } from 'gql.tada';
import type { ResultOf } from '../protocol/graphql.ts';
import { ClustersQuery, createCluster, createServicePlan, enrollHost, HostsPage, rotateHostToken, ServicePlansQuery, type Send, type ServicePlanInput } from '../protocol/fleet.ts';
import { SimBackend, type SimHostConfig } from './backends/sim/index.ts';
import { DEFAULT_LATENCY_MS, SIM_OPERATIONS, type SimOperation } from './backends/sim/config.ts';
import { AgentClient } from './client.ts';

export interface DemoHostSpec {
  name: string;
  hardware: Omit<SimHostConfig, 'name' | 'latencyMs' | 'stateFile'>;
}

export type DemoPlanSpec = ServicePlanInput;

/**
 * Three hosts an operator would recognise: a 4-GPU workstation-class node across two NUMA
 * nodes (two of its GPUs already pooled), a datacenter node with two A100s in the pool, and
 * an edge node with USB devices and NVMe only.
 */
export const DEMO_HOSTS: DemoHostSpec[] = [
  {
    name: 'gpu-node-1',
    hardware: {
      cpuCores: 128,
      memoryMb: 1024 * 1024,
      numaNodes: 2,
      gpus: [
        { model: 'rtx-3090', count: 2, pooled: true },
        { model: 'rtx-3090', count: 2 },
      ],
      usb: [{ model: 'logitech-unifying' }, { model: 'sandisk-ultra-fit' }],
      nvme: [{ model: 'samsung-pm9a3', count: 2, inUseBy: 'the root filesystem (/)' }],
    },
  },
  {
    name: 'gpu-node-2',
    hardware: {
      cpuCores: 64,
      memoryMb: 512 * 1024,
      numaNodes: 1,
      gpus: [{ model: 'a100-80g', count: 2, pooled: true }],
      usb: [{ model: 'yubikey' }],
      nvme: [
        { model: 'intel-p5510', count: 1, inUseBy: 'the root filesystem (/)' },
        { model: 'intel-p5510', count: 1, pooled: true },
      ],
    },
  },
  {
    name: 'edge-node-1',
    hardware: {
      cpuCores: 16,
      memoryMb: 64 * 1024,
      usb: [{ model: 'logitech-unifying' }, { model: 'sandisk-ultra-fit', count: 2 }, { model: 'yubikey' }],
      nvme: [
        { model: 'samsung-pm9a3', count: 1, inUseBy: 'the root filesystem (/)' },
        { model: 'samsung-pm9a3', count: 1 },
      ],
    },
  },
];

export const DEMO_PLANS: DemoPlanSpec[] = [
  { name: 'gpu-small', provisionType: 'KVM', cores: 8, memoryMb: 32 * 1024, diskGb: 100, gpuCount: 1 },
  { name: 'gpu-duo', provisionType: 'KVM', cores: 16, memoryMb: 64 * 1024, diskGb: 200, gpuCount: 2 },
  { name: 'cpu-only', provisionType: 'KVM', cores: 4, memoryMb: 8 * 1024, diskGb: 50, gpuCount: 0 },
];

export interface DemoFleetOptions {
  /** The server's base URL (http://host:port). */
  serverUrl: string;
  logger: Logger;
  /** Sent as `Authorization: Bearer …` on the admin calls (clusters, hosts, plans), when the server asks for one. */
  adminToken?: string;
  clusterName?: string;
  hosts?: DemoHostSpec[];
  plans?: DemoPlanSpec[];
  /** Multiplies the simulated hosts' realistic latencies; 0 makes them instant. Default 1. */
  latencyScale?: number;
  /**
   * Keep each simulated host's bindings and VMs here, so they survive a server restart like
   * real hardware does. Default: memory only.
   */
  stateDir?: string | null;
  heartbeatIntervalMs?: number;
  resyncIntervalMs?: number;
}

export interface DemoHost {
  name: string;
  hostId: string;
  backend: SimBackend;
  agent: AgentClient;
}

export interface DemoFleet {
  clusterId: string;
  hosts: DemoHost[];
  planIds: Record<string, string>;
  stop(): Promise<void>;
}

/** The public API as an operator's script uses it: GraphQL over HTTP POST. */
function sender(serverUrl: string, adminToken: string | undefined): Send {
  return async <Result, Variables extends Record<string, unknown>>(document: TadaDocumentNode<Result, Variables>, variables: Variables): Promise<Result> => {
    const response = await fetch(new URL('/graphql', serverUrl), {
      method: 'POST',
      headers: {
        'content-type': 'application/json',
        accept: 'application/json',
        ...(adminToken ? { authorization: `Bearer ${adminToken}` } : {}),
      },
      body: JSON.stringify({ query: print(document), variables }),
    });
    const result: { data?: Result; errors?: { message: string }[] } = await response.json();
    if (result.errors?.length) throw new Error(`demo fleet: ${result.errors.map((e) => e.message).join('; ')}`);
    if (!result.data) throw new Error(`demo fleet: HTTP ${response.status} without data`);
    return result.data;
  };
}

async function ensureCluster(send: Send, name: string): Promise<string> {
  const { clusters } = await send(ClustersQuery, {});
  return clusters.find((c) => c.name === name)?.id ?? (await createCluster(send, name)).id;
}

async function findHost(send: Send, name: string) {
  for (let after: string | null = null; ; ) {
    // Annotated: `after` is read from the answer it is sent with, which TypeScript cannot infer.
    const { hosts }: ResultOf<typeof HostsPage> = await send(HostsPage, { after });
    const host = hosts.nodes.find((h) => h.name === name);
    if (host) return host;
    if (!hosts.pageInfo.hasNextPage) return null;
    after = hosts.pageInfo.endCursor;
  }
}

/** A host and a fresh token: enrollHost the first time; rotateHostToken after (tokens are shown once). */
async function ensureHost(send: Send, clusterId: string, clusterName: string, name: string, logger: Logger) {
  const existing = await findHost(send, name);
  if (!existing) return enrollHost(send, clusterId, name);
  if (existing.cluster.name !== clusterName) {
    logger.warn({ host: name, cluster: existing.cluster.name }, 'demo host already enrolled in another cluster; using it there');
  }
  return rotateHostToken(send, existing.id);
}

async function ensurePlans(send: Send, plans: DemoPlanSpec[]): Promise<Record<string, string>> {
  const { servicePlans } = await send(ServicePlansQuery, {});
  const ids: Record<string, string> = {};
  for (const plan of plans) ids[plan.name] = servicePlans.find((p) => p.name === plan.name)?.id ?? (await createServicePlan(send, plan)).id;
  return ids;
}

function scaledLatency(scale: number): Partial<Record<SimOperation, number>> {
  return Object.fromEntries(SIM_OPERATIONS.map((op) => [op, Math.round(DEFAULT_LATENCY_MS[op] * scale)]));
}

/**
 * The state file of one simulated host, named after the host's ID: a fresh database (new host
 * IDs) starts from fresh hardware, while a restart against the same database finds its VMs
 * and bindings again. Files of the host's earlier incarnations are removed.
 */
function stateFileFor(stateDir: string, name: string, hostId: string): string {
  mkdirSync(stateDir, { recursive: true });
  const file = `${name}.${createHash('sha256').update(hostId).digest('hex').slice(0, 12)}.json`;
  for (const old of readdirSync(stateDir)) {
    if (old.startsWith(`${name}.`) && old.endsWith('.json') && old !== file) rmSync(join(stateDir, old), { force: true });
  }
  return join(stateDir, file);
}

export async function startDemoFleet(options: DemoFleetOptions): Promise<DemoFleet> {
  const { serverUrl, logger } = options;
  const clusterName = options.clusterName ?? 'demo';
  const send = sender(serverUrl, options.adminToken);
  const clusterId = await ensureCluster(send, clusterName);
  const planIds = await ensurePlans(send, options.plans ?? DEMO_PLANS);
  const latencyMs = scaledLatency(options.latencyScale ?? 1);

  const hosts: DemoHost[] = [];
  for (const spec of options.hosts ?? DEMO_HOSTS) {
    const { id: hostId, token } = await ensureHost(send, clusterId, clusterName, spec.name, logger);
    const log = logger.child({ host: spec.name });
    const backend = new SimBackend(
      {
        ...spec.hardware,
        name: spec.name,
        latencyMs,
        ...(options.stateDir ? { stateFile: stateFileFor(options.stateDir, spec.name, hostId) } : {}),
      },
      { logger: log },
    );
    const agent = new AgentClient({
      serverUrl,
      token,
      backend,
      logger: log,
      ...(options.heartbeatIntervalMs ? { heartbeatIntervalMs: options.heartbeatIntervalMs } : {}),
      ...(options.resyncIntervalMs ? { resyncIntervalMs: options.resyncIntervalMs } : {}),
    }).start();
    hosts.push({ name: spec.name, hostId, backend, agent });
  }
  logger.info({ cluster: clusterName, hosts: hosts.map((h) => h.name), plans: Object.keys(planIds) }, 'demo fleet running');

  return {
    clusterId,
    hosts,
    planIds,
    async stop() {
      await Promise.all(hosts.map((host) => host.agent.stop({ graceMs: 2_000 })));
    },
  };
}
