// The read half of bench/compare.ts: the dashboard query at each fleet size and concurrency
// against Passthru, PostGraphile v4 and the floor, interleaved A B C A B C, repeated; then
// the statements each sends per request, counted on the wire (support/statement-counter.ts).
import { Agent } from 'node:http';
import { join } from 'node:path';
import type { BenchDatabase } from '../support/database.ts';
import { POSTGRES_URL } from '../support/database.ts';
import { post, runLoad, type LoadResult, type LoadTarget } from '../support/http-load.ts';
import { cpuPercent, type Child } from '../support/processes.ts';
import { startStatementCounter } from '../support/statement-counter.ts';
import { adminClient } from '../support/fleet.ts';
import { addPostgraphilePool, hostsIn, PASSTHRU_DASHBOARD, POSTGRAPHILE_DASHBOARD, seedReadFleet } from './read-fleet.ts';
import { startTarget, TARGETS, type TargetName } from './targets.ts';

export interface ReadSettings {
  sizes: number[];
  concurrencies: number[];
  rounds: number;
  durationMs: number;
  logDir: string;
  cpuProfileDir?: string | undefined;
}

export interface ReadPoint {
  hosts: number;
  concurrency: number;
  target: TargetName;
  runs: LoadResult[];
  /** The server process's CPU over each run, % of one core (its core's ceiling is 100). */
  cpu: number[];
}

export interface StatementCount {
  hosts: number;
  target: TargetName;
  statements: number;
  control: number;
  sample: string[];
}

export function loadTarget(name: TargetName, child: Child, token: string): LoadTarget {
  const url = `${child.url}/graphql`;
  if (name === 'passthru') return { url, body: JSON.stringify({ query: PASSTHRU_DASHBOARD }), headers: { authorization: `Bearer ${token}` } };
  if (name === 'postgraphile') return { url, body: JSON.stringify({ query: POSTGRAPHILE_DASHBOARD }) };
  return { url, body: '{}' };
}

/** One answer of each, checked for the expected number of hosts, before anything is timed. */
async function check(name: TargetName, target: LoadTarget, hosts: number) {
  const agent = new Agent({ keepAlive: false });
  const response = await post(agent, target);
  const seen = response.status === 200 ? hostsIn(JSON.parse(response.body)) : -1;
  if (seen !== Math.min(hosts, 500)) throw new Error(`${name} answered the dashboard with ${seen} hosts, expected ${Math.min(hosts, 500)}: ${response.body.slice(0, 400)}`);
}

/** Statements per request of each server: a second instance of it through the counting proxy. */
async function countStatements(database: BenchDatabase, hosts: number, token: string, logDir: string): Promise<StatementCount[]> {
  const upstream = new URL(POSTGRES_URL);
  const counts: StatementCount[] = [];
  for (const name of TARGETS) {
    const counter = await startStatementCounter({ host: upstream.hostname, port: Number(upstream.port || 5432) });
    const viaCounter = new URL(database.url);
    viaCounter.hostname = '127.0.0.1';
    viaCounter.port = String(counter.port);
    const child = await startTarget(name, { databaseUrl: viaCounter.toString(), core: 0, logDir, quiet: true });
    const target = loadTarget(name, child, token);
    const agent = new Agent({ keepAlive: true, maxSockets: 1 });
    for (let i = 0; i < 3; i++) await post(agent, target); // warm: prepared statements, caches
    const before = { statements: counter.statements, control: counter.control };
    const REQUESTS = 10;
    for (let i = 0; i < REQUESTS; i++) await post(agent, target);
    counts.push({
      hosts,
      target: name,
      statements: (counter.statements - before.statements) / REQUESTS,
      control: (counter.control - before.control) / REQUESTS,
      sample: counter.recent.slice(-Math.max(1, Math.ceil((counter.statements - before.statements) / REQUESTS))),
    });
    agent.destroy();
    await child.stop('SIGINT');
    await counter.close();
  }
  return counts;
}

export async function runRead(database: BenchDatabase, settings: ReadSettings, report: (line: string) => void) {
  const points: ReadPoint[] = [];
  const counts: StatementCount[] = [];
  const children = new Map<TargetName, Child>();
  // Passthru first: it migrates the database the other two then introspect.
  const passthru = await startTarget('passthru', { databaseUrl: database.url, core: 0, logDir: settings.logDir, cpuProfileDir: settings.cpuProfileDir && join(settings.cpuProfileDir, 'read') });
  children.set('passthru', passthru);
  // An automation team's API token, as the issue's figures were measured with.
  const viewer = await adminClient(passthru.url, 'VIEWER');
  const token = viewer.token ?? '';
  await viewer.close();
  await addPostgraphilePool(database.sql);
  for (const name of TARGETS.slice(1)) children.set(name, await startTarget(name, { databaseUrl: database.url, core: 0, logDir: settings.logDir }));
  for (const hosts of settings.sizes) {
    await seedReadFleet(database.sql, hosts);
    const targets = new Map(TARGETS.map((name) => [name, loadTarget(name, children.get(name)!, token)]));
    for (const name of TARGETS) await check(name, targets.get(name)!, hosts);
    for (const concurrency of settings.concurrencies) {
      const row = new Map(TARGETS.map((name): [TargetName, ReadPoint] => [name, { hosts, concurrency, target: name, runs: [], cpu: [] }]));
      for (let round = 0; round < settings.rounds; round++) {
        for (const name of TARGETS) {
          const child = children.get(name)!;
          const before = child.sample();
          const result = await runLoad(targets.get(name)!, concurrency, settings.durationMs);
          row.get(name)!.runs.push(result);
          row.get(name)!.cpu.push(cpuPercent(before, child.sample()));
          report(`  read ${hosts} hosts c=${concurrency} round ${round + 1} ${name}: ${result.perSecond.toFixed(1)} req/s, p50 ${result.p50.toFixed(1)} ms, p99 ${result.p99.toFixed(1)} ms${result.failed ? `, ${result.failed} failed: ${result.firstError}` : ''}`);
        }
      }
      points.push(...row.values());
    }
    counts.push(...(await countStatements(database, hosts, token, settings.logDir)));
  }
  for (const child of children.values()) await child.stop('SIGINT');
  return { points, counts };
}
