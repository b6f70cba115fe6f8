// Many host agents against one server: N real AgentClients (agent/client.ts) with the sim
// backend, 8 devices each, in this process, against one server process on PostgreSQL.
// Measures steady-state server CPU and RSS, database transactions per second, hosts OFFLINE
// over time, and the herd after a server restart: the server is killed (SIGKILL), started
// again on the same port and database, and the bench times until every agent has re-reported
// its inventory, watching that no host goes OFFLINE meanwhile or when the grace runs out.
//
//   npx tsx bench/agents.ts --agents 250,2000      (PostgreSQL on 127.0.0.1:5432)
//   options: --steady S (30) --watch S (45, after the server is back) --cpu-prof
//   (--cpu-prof profiles the restarted server, from the herd on; the first one is killed)
//   or the environment: AGENTS, STEADY, WATCH
//
// Agents heartbeat every 10 s and the server marks a host OFFLINE after 30 s of silence (both
// defaults). The server runs pinned to core 0, the agents (this process) to core 1;
// PostgreSQL is not pinned. Each N gets a fresh database, dropped at the end.
// PostgreSQL is reached at BENCH_POSTGRES_URL (default postgres://postgres@127.0.0.1:5432/postgres).
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { SimBackend } from '../agent/backends/sim/index.ts';
import { AgentClient } from '../agent/client.ts';
import { createBenchDatabase, ownQuery, type BenchDatabase } from './support/database.ts';
import { adminClient, enrollHosts } from './support/fleet.ts';
import { cleanup, bounded, onCleanup } from './support/lifecycle.ts';
import { flag, list, option } from './support/options.ts';
import { cpuPercent, freePort, pinSelf, startServer, type Child } from './support/processes.ts';
import { fmt, loadAverage, percentile, sleep, sortedCopy, table, waitFor } from './support/stats.ts';

const SIZES = list('agents', 'AGENTS', [250, 2000]);
const STEADY_S = option('steady', 'STEADY', 30);
const WATCH_S = option('watch', 'WATCH', 45);
const CPU_PROFILE = flag('cpu-prof');
const HEARTBEAT_MS = 10_000;
const HEARTBEAT_TIMEOUT_S = 30;

const limitMs = SIZES.reduce((sum, n) => sum + 120_000 + n * 150 + (STEADY_S + WATCH_S) * 1000 + 60_000, 0);
const stopWatchdog = bounded('agents', limitMs);

interface Result {
  agents: number;
  enrollS: number;
  startupS: number;
  steadyCpu: number;
  steadyRssMb: number;
  xactPerS: number;
  steadyOfflineMax: number;
  downS: number;
  reReportedS: number;
  reReportP50: number;
  reReportP99: number;
  missing: number;
  restartCpu: number;
  everOffline: number;
  timeline: string;
  loadGeneratorCpu: number;
  reconnectP50: number;
  reconnectP99: number;
  disconnects: { steady: number; restart: number };
  logFile: string;
}

/** Eight devices: two GPUs with their audio functions, two USB devices, two NVMe drives. */
const HARDWARE = {
  cpuCores: 64,
  memoryMb: 256 * 1024,
  gpus: [{ model: 'rtx-3090' as const, count: 2 }],
  usb: [{ model: 'logitech-unifying' as const }, { model: 'yubikey' as const }],
  nvme: [{ model: 'samsung-pm9a3' as const, count: 2 }],
};

async function offlineCount(database: BenchDatabase): Promise<number> {
  const [row] = await ownQuery(database, (sql) => sql<{ count: number }[]>`select count(*)::int as count from hosts where status = 'OFFLINE'`);
  return row?.count ?? 0;
}

async function run(n: number, work: string): Promise<Result> {
  const database = await createBenchDatabase();
  onCleanup(() => database.drop());
  const port = await freePort();
  const profileDir = CPU_PROFILE ? join(work, `profile-${n}`) : undefined;
  const serverOptions = { port, core: 0, databaseUrl: database.url, dataDir: join(work, 'pglite'), logDir: work, cpuProfileDir: profileDir, env: { PASSTHRU_HEARTBEAT_TIMEOUT: `${HEARTBEAT_TIMEOUT_S}s` } };
  let server: Child = await startServer(serverOptions);
  onCleanup(() => server.stop('SIGINT'));
  const admin = await adminClient(server.url);

  // Every transition to OFFLINE, seen from the database itself, however short-lived.
  const offline = new Map<string, number>();
  await ownQuery(database, (sql) => sql`
    create function bench_offline() returns trigger language plpgsql as $$
    begin perform pg_notify('bench_offline', new.id::text); return null; end $$`);
  await ownQuery(database, (sql) => sql`
    create trigger bench_offline after update of status on hosts for each row
    when (new.status = 'OFFLINE' and old.status is distinct from 'OFFLINE') execute function bench_offline()`);
  database.ownTransactions++;
  await database.sql.listen('bench_offline', (hostId) => offline.set(hostId, Date.now()));

  let started = Date.now();
  const hosts = await enrollHosts(admin, n, 16);
  const enrollS = (Date.now() - started) / 1000;
  await admin.close();

  // Agents' warnings and errors go to a file, tallied in the report (why agents redial).
  const logFile = join(work, `agents-${n}.log`);
  const destination = pino.destination({ dest: logFile, sync: false });
  const logger = pino({ level: 'warn' }, destination);
  onCleanup(async () => destination.flushSync());
  const firstReport: number[] = new Array(n).fill(0);
  /** First report after the server was killed: necessarily to the restarted server. */
  const reReport: number[] = new Array(n).fill(0);
  let killedAt = Infinity;
  const disconnects: number[] = [];
  const reConnect: number[] = new Array(n).fill(0);
  const agents = hosts.map((host, i) => {
    const agent = new AgentClient({
      serverUrl: server.url,
      token: host.token,
      backend: new SimBackend({ ...HARDWARE, name: host.name, latencyMs: 20 }, { logger }),
      logger,
      heartbeatIntervalMs: HEARTBEAT_MS,
    });
    agent.on('inventory', () => {
      const at = Date.now();
      firstReport[i] ||= at;
      if (at > killedAt) reReport[i] ||= at;
    });
    agent.on('disconnected', () => disconnects.push(Date.now()));
    agent.on('connected', () => {
      if (Date.now() > killedAt) reConnect[i] ||= Date.now();
    });
    return agent;
  });
  onCleanup(() => Promise.all(agents.map((agent) => agent.stop({ graceMs: 0 }))));

  // Agents come up over ~10 s, as a fleet booting does, not all in one millisecond.
  started = Date.now();
  const perBatch = Math.max(1, Math.ceil(n / 20));
  for (let i = 0; i < n; i += perBatch) {
    for (const agent of agents.slice(i, i + perBatch)) agent.start();
    await sleep(500);
  }
  await waitFor(() => firstReport.every((t) => t > 0), 120_000, 200);
  const startupS = (Date.now() - started) / 1000;

  // --- steady state ---
  const samples: string[] = [];
  await sleep(HEARTBEAT_MS); // past the start-up reports
  const steadyBegins = Date.now();
  const cpuStart = server.sample();
  const ownStart = process.cpuUsage();
  const xactStart = await database.transactionsCommitted();
  let rssMb = 0;
  let steadyOfflineMax = 0;
  const steadyStarted = Date.now();
  for (let s = 0; s < STEADY_S; s++) {
    await sleep(1000);
    rssMb = Math.max(rssMb, server.sample().rssMb);
    const count = await offlineCount(database);
    steadyOfflineMax = Math.max(steadyOfflineMax, count);
    if (s % 5 === 4) samples.push(`${s + 1}s:${count}`);
  }
  const cpuEnd = server.sample();
  const xactEnd = await database.transactionsCommitted();
  const steadyS = (Date.now() - steadyStarted) / 1000;
  const own = process.cpuUsage(ownStart);

  // --- restart: kill, start again on the same port and database, wait for the herd ---
  killedAt = Date.now();
  await server.stop('SIGKILL');
  server = await startServer(serverOptions);
  const backAt = Date.now();
  const restartCpuStart = server.sample();
  samples.push(`| restart, back after ${fmt((backAt - killedAt) / 1000)} s |`);
  let reReportedAt: number | null = null;
  for (let s = 0; s < WATCH_S; s++) {
    await sleep(1000);
    if (reReportedAt === null && reReport.every((t) => t > 0)) reReportedAt = Date.now();
    const count = await offlineCount(database);
    if (s % 5 === 4 || count > 0) samples.push(`${s + 1}s:${count}`);
    if (s >= HEARTBEAT_TIMEOUT_S + 10 && reReportedAt !== null) break;
  }
  const restartCpu = cpuPercent(restartCpuStart, server.sample());
  const reports = sortedCopy(reReport.filter((t) => t > 0).map((t) => (t - backAt) / 1000));
  return {
    agents: n,
    enrollS,
    startupS,
    steadyCpu: cpuPercent(cpuStart, cpuEnd),
    steadyRssMb: rssMb,
    xactPerS: (xactEnd - xactStart) / steadyS,
    steadyOfflineMax,
    downS: (backAt - killedAt) / 1000,
    reReportedS: reReportedAt === null ? Number.NaN : reports.at(-1) ?? Number.NaN,
    reReportP50: percentile(reports, 50),
    reReportP99: percentile(reports, 99),
    missing: reReport.filter((t) => t === 0).length,
    restartCpu,
    everOffline: [...offline.values()].filter((t) => t >= steadyBegins).length,
    timeline: samples.join(' '),
    loadGeneratorCpu: (100 * (own.user + own.system)) / 1000 / (steadyS * 1000),
    reconnectP50: percentile(sortedCopy(reConnect.filter((t) => t > 0).map((t) => (t - backAt) / 1000)), 50),
    reconnectP99: percentile(sortedCopy(reConnect.filter((t) => t > 0).map((t) => (t - backAt) / 1000)), 99),
    disconnects: { steady: disconnects.filter((t) => t >= steadyBegins && t < killedAt).length, restart: disconnects.filter((t) => t > backAt).length },
    logFile,
  };
}

const HEADERS = ['agents', 'enroll s', 'all reported s', 'server CPU %', 'RSS MB', 'DB xact/s', 'OFFLINE max', 'restart: down s', 'all re-reported s', 'p50 s', 'p99 s', 'not re-reported', 'CPU % after restart', 'hosts ever OFFLINE', 'agents CPU %'];
function row(r: Result): (string | number)[] {
  return [r.agents, fmt(r.enrollS), fmt(r.startupS), fmt(r.steadyCpu, 0), fmt(r.steadyRssMb, 0), fmt(r.xactPerS), r.steadyOfflineMax, fmt(r.downS), fmt(r.reReportedS), fmt(r.reReportP50), fmt(r.reReportP99), r.missing, fmt(r.restartCpu, 0), r.everOffline, fmt(r.loadGeneratorCpu, 0)];
}

/** The agents' logged warnings and errors by message, most frequent first. */
function tally(file: string): string {
  const counts = new Map<string, number>();
  for (const line of readFileSync(file, 'utf8').split('\n')) {
    if (!line) continue;
    const { msg, err }: { msg?: string; err?: string } = JSON.parse(line);
    const key = `${msg ?? '?'}${err ? ` (${err.slice(0, 80)})` : ''}`;
    counts.set(key, (counts.get(key) ?? 0) + 1);
  }
  return [...counts].sort((a, b) => b[1] - a[1]).slice(0, 6).map(([msg, count]) => `${count}x "${msg}"`).join(', ');
}

pinSelf(1);
const work = mkdtempSync(join(tmpdir(), 'passthru-agents-'));
const startedAt = new Date();
const loadBefore = loadAverage();
const results: Result[] = [];
for (const n of SIZES) {
  const result = await run(n, work);
  results.push(result);
  // Printed before the agents stop, so a run cut short still shows what it measured.
  console.log(`${table(HEADERS, [row(result)])}\n  OFFLINE over time: ${result.timeline}`);
  await cleanup();
  console.log(`  after the restart, agents connected again at p50 ${fmt(result.reconnectP50)} s, p99 ${fmt(result.reconnectP99)} s; reported at p50 ${fmt(result.reReportP50)} s, p99 ${fmt(result.reReportP99)} s`);
  console.log(`  agent connections lost: ${result.disconnects.steady} in the steady window, ${result.disconnects.restart} after the restarted server was back`);
  console.log(`  agent warnings: ${tally(result.logFile) || 'none'}\n`);
}

console.log(`agents: sim backend, 8 devices each, heartbeat every ${HEARTBEAT_MS / 1000} s, OFFLINE after ${HEARTBEAT_TIMEOUT_S} s; steady window ${STEADY_S} s`);
console.log(`  PostgreSQL (fresh database per size); server on core 0, agents on core 1`);
console.log(`  ${startedAt.toISOString()}  load average before: ${loadBefore}  after: ${loadAverage()}  node ${process.version}\n`);
console.log(table(HEADERS, results.map(row)));
console.log('\nhosts OFFLINE over time (seconds into the steady window, then after the server is back):');
for (const r of results) console.log(`  ${r.agents}: ${r.timeline}`);
console.log('\n"all re-reported s": seconds from the restarted server answering to the last agent\'s inventory report.');

stopWatchdog();
if (CPU_PROFILE) console.log(`\nserver CPU profiles: ${readdirSync(work).filter((d) => d.startsWith('profile-')).map((d) => join(work, d)).join(', ')}`);
else rmSync(work, { recursive: true, force: true });
process.exit(0);
