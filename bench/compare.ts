// Passthru beside PostGraphile v4 and the SQL floor, on the same PostgreSQL and the same CPU
// budget (issue 9). `npm run bench` (or `npm run bench -- --quick`):
//
// - read: the console's dashboard (hosts -> devices -> VM, and the pool) at each fleet size
//   and concurrency, against Passthru, PostGraphile v4 and the floor (one json_agg statement
//   behind node:http), interleaved A B C A B C; req/s, p50, p99, statements per request;
// - write: provisionVm/deleteVm cycles of 32 clients with simulated agents acknowledging, and
//   32 clients contending for 8 free GPUs, against the floor (the same reservation as one SKIP
//   LOCKED statement); provisions/s, p99, and devices ever held by two VMs, from their history;
// - mutations: detachDevice and assignDevice at c=1 against one UPDATE round trip.
//
// Servers run pinned to core 0, this load generator to core 1; PostgreSQL is not pinned. Each
// part gets a fresh database on 127.0.0.1:5432 (BENCH_POSTGRES_URL), dropped at the end.
// The last line is the verdict:
//   verdict: read/postgraphile <min ratio over all read points> provisions/s <median> double-assignments <count>
//
// options: --quick (64 hosts, c=16, 10 s each), --hosts 64,512 --concurrency 1,16,64
//          --rounds N --seconds S (read) --write-seconds S --clients N
//          --cpu-prof DIR: Passthru's V8 CPU profiles, DIR/read and DIR/write (bench/profile-summary.ts ranks them)
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { createBenchDatabase } from './support/database.ts';
import { adminClient } from './support/fleet.ts';
import { bounded, cleanup, onCleanup } from './support/lifecycle.ts';
import { flag, list, option, textOption } from './support/options.ts';
import { cpuPercent, freePort, pinSelf, startServer } from './support/processes.ts';
import { loadAverage } from './support/stats.ts';
import { doubleAssignments, watchStatuses } from './comparison/db-watch.ts';
import { runMutations } from './comparison/mutations.ts';
import { runRead } from './comparison/read.ts';
import { printMutations, printRead, printStatements, printWrite, verdict, type WriteRow } from './comparison/report.ts';
import { floorCycles, passthruCycles } from './comparison/write.ts';
import { PRODUCTION_ENV } from './comparison/targets.ts';
import { startWriteFleet } from './comparison/write-fleet.ts';

const QUICK = flag('quick');
const profileDir = textOption('cpu-prof');
const settings = {
  sizes: list('hosts', 'BENCH_HOSTS', QUICK ? [64] : [64, 512]),
  concurrencies: list('concurrency', 'BENCH_CONCURRENCY', QUICK ? [16] : [1, 16, 64]),
  rounds: option('rounds', 'BENCH_ROUNDS', QUICK ? 2 : 3),
  durationMs: option('seconds', 'BENCH_SECONDS', QUICK ? 10 : 5) * 1000,
  writeMs: option('write-seconds', 'BENCH_WRITE_SECONDS', QUICK ? 10 : 15) * 1000,
  clients: option('clients', 'BENCH_CLIENTS', 32),
  writeHosts: 64,
  cpuProfileDir: profileDir === undefined ? undefined : resolve(profileDir),
};
const stopWatchdog = bounded('bench', QUICK ? 5 * 60_000 : 20 * 60_000);
// Interrupted (Ctrl-C, a CI timeout): the databases and children go too.
for (const signal of ['SIGINT', 'SIGTERM'] as const) process.once(signal, () => void cleanup().finally(() => process.exit(130)));
const hasTaskset = spawnSync('taskset', ['-V']).status === 0;
if (hasTaskset) pinSelf(1);

const work = mkdtempSync(join(tmpdir(), 'passthru-compare-'));
onCleanup(async () => rmSync(work, { recursive: true, force: true }));
// The commit measured; a run from an exported tree (git archive) names it in BENCH_COMMIT.
const head = process.env.BENCH_COMMIT ?? spawnSync('git', ['rev-parse', '--short', 'HEAD'], { encoding: 'utf8' }).stdout.trim();
const dirty = !process.env.BENCH_COMMIT && spawnSync('git', ['diff', '--quiet', 'HEAD', '--', 'server', 'agent']).status !== 0;
const commit = dirty ? `${head} + uncommitted changes in server/ or agent/` : head;
const startedAt = new Date();
const loadBefore = loadAverage();
const log = (line: string) => console.log(line);
log(`bench ${QUICK ? '--quick ' : ''}at ${commit} on ${startedAt.toISOString()}, load average ${loadBefore}, node ${process.version}`);
log(`servers pinned to core 0, load generator to core 1${hasTaskset ? '' : ' (no taskset here: not pinned)'}\n`);

// --- read ---
const readDatabase = await createBenchDatabase();
onCleanup(() => readDatabase.drop());
const read = await runRead(readDatabase, { ...settings, logDir: work }, log);
if (settings.cpuProfileDir) log(`CPU profiles in ${settings.cpuProfileDir}/read and /write`);

// --- write and mutations ---
const writeDatabase = await createBenchDatabase();
onCleanup(() => writeDatabase.drop());
const server = await startServer({ port: await freePort(), core: 0, databaseUrl: writeDatabase.url, dataDir: join(work, 'pglite'), logDir: work, cpuProfileDir: settings.cpuProfileDir && join(settings.cpuProfileDir, 'write'), env: PRODUCTION_ENV });
onCleanup(() => server.stop('SIGINT'));
const admin = await adminClient(server.url, 'ADMIN');
const watch = await watchStatuses(writeDatabase);
const fleet = await startWriteFleet({ admin, url: server.url, database: writeDatabase, hosts: settings.writeHosts, logDir: work });
const writeRows: WriteRow[] = [];
const workloads = [
  { workload: `${settings.clients} clients, ${settings.writeHosts} hosts x 8 free GPUs`, clusterId: fleet.clusterId },
  { workload: `${settings.clients} clients contending for 8 free GPUs`, clusterId: fleet.scarceClusterId },
];
for (const { workload, clusterId } of workloads) {
  const passthru: WriteRow = { workload, target: 'passthru', runs: [], cpu: [] };
  const floor: WriteRow = { workload, target: 'floor', runs: [], cpu: [] };
  for (let round = 0; round < Math.max(2, settings.rounds - 1); round++) {
    const prefix = `r${writeRows.length}${round}`;
    const before = server.sample();
    passthru.runs.push(await passthruCycles({ client: admin, vms: watch.vms, planId: fleet.planId, clusterId, clients: settings.clients, durationMs: settings.writeMs, prefix: `${prefix}p` }));
    passthru.cpu.push(cpuPercent(before, server.sample()));
    floor.runs.push(await floorCycles({ database: writeDatabase, planId: fleet.planId, clusterId, clients: settings.clients, durationMs: settings.writeMs, prefix: `${prefix}f` }));
    for (const row of [passthru, floor]) {
      const run = row.runs.at(-1)!;
      log(`  write "${workload}" round ${round + 1} ${row.target}: ${run.perSecond.toFixed(1)} provisions/s, p99 ${run.p99.toFixed(1)} ms, ${run.refused} refused, ${run.errors} errors${run.firstError ? ` (${run.firstError})` : ''}`);
    }
  }
  writeRows.push(passthru, floor);
}
const mutations = await runMutations({ client: admin, database: writeDatabase, devices: watch.devices, vms: watch.vms, hostId: fleet.firstHostId, planId: fleet.planId, durationMs: settings.writeMs });
const doubles = await doubleAssignments(writeDatabase);
await admin.close();

log('');
log(`bench ${QUICK ? '--quick ' : ''}at ${commit}, ${startedAt.toISOString()}; load average before ${loadBefore}, after ${loadAverage()}`);
printRead(read.points, log);
printStatements(read.counts, log);
printWrite(writeRows, doubles, log);
printMutations(mutations, log);
await cleanup();
stopWatchdog();
log(`finished in ${Math.round((Date.now() - startedAt.getTime()) / 1000)} s`);
log(verdict(read.points, writeRows, doubles.doubles));
