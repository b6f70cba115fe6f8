// One chaos run, end to end: the cluster, the subscribers, the clients and the nemesis for a
// while; then heal, let the system settle, check every invariant and write the results.
// `bench/chaos/run.ts` (npm run chaos) and tests/faults/chaos.test.ts both call runChaos.

import { mkdirSync, writeFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import { join } from 'node:path';
import postgres from 'postgres';
import { check, readHostTruth, readSnapshot, subscriberMismatches, type InvariantResult } from './checker.ts';
import { Cluster, repoRoot, TIMEOUTS } from './cluster.ts';
import { Nemesis, type FaultKind } from './nemesis.ts';
import { Subscriber, Workload } from './workload.ts';
import { poll, Random, sleep } from './util.ts';

export interface ChaosOptions {
  durationMs: number;
  clients: number;
  agents: number;
  seed: number;
  /** Results folder; default .chaos/<timestamp>/ in the repository. */
  dir?: string;
  log?: (message: string) => void;
}

export interface ChaosResult {
  dir: string;
  invariants: InvariantResult[];
  faults: Record<FaultKind, number>;
  requests: { total: number; success: number; refused: number; indeterminate: number; byMutation: Record<string, Record<string, number>> };
  subscriberEvents: number[];
  quiescence: { reached: boolean; waitedMs: number; unfinished: number; resynced: boolean };
  /** Host statuses when the checker read the database, after healing. */
  hosts: Record<string, string>;
  loadAverage: { start: number[]; end: number[] };
  ok: boolean;
}

export async function runChaos(options: ChaosOptions): Promise<ChaosResult> {
  const log = options.log ?? ((message: string) => console.log(`[chaos ${new Date().toISOString().slice(11, 19)}] ${message}`));
  const dir = options.dir ?? join(repoRoot, '.chaos', new Date().toISOString().replace(/[:.]/g, '-'));
  mkdirSync(dir, { recursive: true });
  const loadStart = loadavg();
  const random = new Random(options.seed);
  log(`seed ${options.seed}, ${options.clients} clients, ${options.agents} agents, ${Math.round(options.durationMs / 1000)} s of faults; results in ${dir}`);

  const cluster = await Cluster.create({ agents: options.agents, clients: options.clients, seed: options.seed, dir, log });
  const subscribers = cluster.servers.map((server) => new Subscriber(server.index, server.url, cluster.adminToken));
  const workload = new Workload(cluster, options.seed);
  const nemesis = new Nemesis(cluster, random, log);
  try {
    // Subscribed before any device exists, so every device's whole life is in the stream.
    await Promise.all(subscribers.map((s) => s.start()));
    await cluster.startAgents();

    workload.start();
    nemesis.start();
    await sleep(options.durationMs);
    log('healing: the fault in progress ends, then the clients stop');
    await nemesis.stop();
    await workload.stop();
    await heal(cluster);

    const quiescence = await settle(cluster, log);

    // Subscribers get a bounded time to catch up with the final state.
    await poll(async () => subscriberMismatches(await readSnapshot(cluster.database.url), subscribers).length === 0, 15_000, 500);

    const snapshot = await readSnapshot(cluster.database.url);
    const truth = readHostTruth(cluster);
    const invariants = check({ snapshot, truth, history: workload.history, subscribers, exits: cluster.exits, faults: nemesis.faults });

    const byMutation: Record<string, Record<string, number>> = {};
    for (const entry of workload.history) {
      const row = (byMutation[entry.mutation] ??= {});
      const key = entry.outcome === 'indeterminate' ? 'indeterminate' : entry.typename!;
      row[key] = (row[key] ?? 0) + 1;
    }
    const result: ChaosResult = {
      dir,
      invariants,
      faults: nemesis.counts(),
      requests: {
        total: workload.history.length,
        success: workload.history.filter((e) => e.outcome === 'success').length,
        refused: workload.history.filter((e) => e.outcome === 'refused').length,
        indeterminate: workload.history.filter((e) => e.outcome === 'indeterminate').length,
        byMutation,
      },
      subscriberEvents: subscribers.map((s) => s.events.length),
      quiescence,
      hosts: Object.fromEntries(snapshot.hosts.map((host) => [host.name, host.status])),
      loadAverage: { start: loadStart, end: loadavg() },
      ok: invariants.every((i) => i.violations.length === 0),
    };

    const write = (name: string, value: unknown) => writeFileSync(join(dir, name), JSON.stringify(value, null, 2));
    write('history.json', workload.history);
    write('faults.json', nemesis.faults);
    write('violations.json', Object.fromEntries(invariants.map((i) => [i.name, i.violations])));
    write('subscribers.json', subscribers.map((s) => ({ server: s.server, gaps: s.gaps, events: s.events })));
    write('snapshot.json', snapshot);
    write('hosts.json', truth);
    write('summary.json', { ...result, invariants: invariants.map(({ violations, ...rest }) => ({ ...rest, violations: violations.length })) });
    writeFileSync(join(dir, 'summary.txt'), formatSummary(result));
    return result;
  } finally {
    await Promise.all(subscribers.map((s) => s.stop()));
    await workload.stop();
    await cluster.destroy();
  }
}

/** Every process running and none paused, as after the last fault. */
async function heal(cluster: Cluster) {
  // The nemesis restarts PostgreSQL within each fault; processes that crashed were restarted on exit.
  for (const agent of cluster.agents) {
    agent.proxy.restore();
    agent.resume();
    agent.start();
  }
  for (const server of cluster.servers) server.start();
  await Promise.all(cluster.servers.map((server) => server.ready()));
}

/**
 * Waits until no operation is PENDING or RUNNING (the sweep fails those past their deadline), then
 * for every agent's next full inventory report, so the hosts' truth has been reported once.
 */
async function settle(cluster: Cluster, log: (message: string) => void): Promise<ChaosResult['quiescence']> {
  const started = Date.now();
  const sql = postgres(cluster.database.url, { max: 1, onnotice: () => undefined, connect_timeout: 5 });
  const unfinished = async () => {
    try {
      const [row] = await sql`select count(*)::int as n from operations where status in ('PENDING', 'RUNNING')`;
      return row!.n as number;
    } catch {
      return -1;
    }
  };
  try {
    const limitMs = (TIMEOUTS.queueSeconds + TIMEOUTS.operationSeconds + 15) * 1000;
    const reached = (await poll(async () => (await unfinished()) === 0, limitMs, 250)) === true;
    const quietAt = Date.now();
    log(reached ? `quiescent after ${quietAt - started} ms` : `still ${await unfinished()} unfinished operations after ${limitMs} ms`);
    const resynced = (await poll(async () => cluster.agents.every((agent) => agent.lastInventoryAt > quietAt), 20_000, 250)) === true;
    if (!resynced) log('not every agent reported its inventory again within 20 s');
    return { reached, waitedMs: Date.now() - started, unfinished: await unfinished(), resynced };
  } finally {
    await sql.end({ timeout: 5 });
  }
}

export function formatSummary(result: ChaosResult): string {
  const lines: string[] = [];
  const width = Math.max(...result.invariants.map((i) => i.name.length));
  lines.push(`${'invariant'.padEnd(width)}  checked  violations`);
  for (const invariant of result.invariants) {
    lines.push(`${invariant.name.padEnd(width)}  ${String(invariant.checked).padStart(7)}  ${String(invariant.violations.length).padStart(10)}`);
  }
  lines.push('');
  lines.push(`faults: ${Object.entries(result.faults).map(([kind, n]) => `${kind} ${n}`).join(', ')}`);
  const r = result.requests;
  lines.push(`requests: ${r.total} (${r.success} succeeded, ${r.refused} refused, ${r.indeterminate} indeterminate)`);
  for (const [mutation, outcomes] of Object.entries(r.byMutation).sort()) {
    lines.push(`  ${mutation.padEnd(14)} ${Object.entries(outcomes).sort().map(([k, n]) => `${k} ${n}`).join(', ')}`);
  }
  lines.push(`subscriber events: ${result.subscriberEvents.join(', ')}`);
  const q = result.quiescence;
  lines.push(`quiescence: ${q.reached ? 'reached' : 'NOT reached'} in ${q.waitedMs} ms, ${q.unfinished} unfinished operations, agents resynced: ${q.resynced}`);
  lines.push(`hosts at the check: ${Object.entries(result.hosts).map(([name, status]) => `${name} ${status}`).join(', ')}`);
  lines.push(`load average: start ${result.loadAverage.start.map((n) => n.toFixed(2)).join(' ')}, end ${result.loadAverage.end.map((n) => n.toFixed(2)).join(' ')}`);
  lines.push(`results: ${result.dir}`);
  lines.push(result.ok ? 'OK: no invariant violated' : 'FAILED: some invariant was violated (violations.json)');
  return `${lines.join('\n')}\n`;
}

/** Violations, first few per invariant, for a failing test's message. */
export function formatViolations(result: ChaosResult, perInvariant = 5): string {
  return result.invariants
    .filter((i) => i.violations.length)
    .map((i) => `${i.name}: ${i.violations.length} violation(s)\n${i.violations.slice(0, perInvariant).map((v) => `  ${JSON.stringify(v)}`).join('\n')}`)
    .join('\n');
}
