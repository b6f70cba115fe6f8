// Live fan-out at fleet scale: N real graphql-ws subscribers to deviceChanged (half of them
// filtered by host) while an agent's inventory reports change one device R times a second,
// beside a floor measured in the same run: a bare `ws` server (bench/support/floor-server.ts)
// sending the same frames, pre-serialized, to the same number of the same clients.
// Passthru and the floor alternate (A B A B …); the summary gives medians over rounds.
//
//   npx tsx bench/fanout.ts --subscribers 1000 --rate 10      (PostgreSQL on 127.0.0.1:5432)
//   npx tsx bench/fanout.ts --subscribers 5000 --rate 1
//   npx tsx bench/fanout.ts --pglite                          (embedded database)
//   npx tsx bench/fanout.ts --processes 2                     (two server processes, one database)
//   options: --duration S (per run, 20) --rounds K (3) --hosts H (50) --late-ms MS (1000) --cpu-prof
//   or the environment: N, R, DURATION, ROUNDS, HOSTS, PROCESSES, LATE_MS
//
// Each change is one device's productName set to "bench <seq>", so every event names the change
// it shows. "From commit" is measured from the commit becoming visible to this process (a
// trigger the bench adds to its own database NOTIFYs on commit); on PGlite only "from response"
// exists. The server runs pinned to core 0, the load generator (this process) to core 1;
// PostgreSQL is not pinned. The database is created fresh and dropped at the end.
// PostgreSQL is reached at BENCH_POSTGRES_URL (default postgres://postgres@127.0.0.1:5432/postgres).
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { hostDevices } from '../tests/support/seed.ts';
import { fakeHardware, TestAgent } from '../tests/support/agent.ts';
import { createBenchDatabase, ownQuery } from './support/database.ts';
import { analyzeRound, type Change, type RoundResult } from './support/fanout-analysis.ts';
import { adminClient, enrollHosts, hasCursorShape } from './support/fleet.ts';
import { bounded, cleanup, onCleanup } from './support/lifecycle.ts';
import { option, flag } from './support/options.ts';
import { startFloor } from './support/floor.ts';
import { cpuPercent, freePort, pinSelf, startServer, type Child } from './support/processes.ts';
import { fmt, loadAverage, median, now, percentile, sleep, sortedCopy, table, waitFor } from './support/stats.ts';
import { closeSubscribers, connectSubscribers, BENCH_NAME, type Subscriber } from './support/subscribers.ts';

const N = option('subscribers', 'N', 1000);
const R = option('rate', 'R', 10);
const DURATION_S = option('duration', 'DURATION', 20);
const ROUNDS = option('rounds', 'ROUNDS', 3);
const HOSTS = option('hosts', 'HOSTS', 50);
const PROCESSES = option('processes', 'PROCESSES', 1);
const LATE_MS = option('late-ms', 'LATE_MS', 1000);
const PGLITE = flag('pglite');
const CPU_PROFILE = flag('cpu-prof');
const DEVICES_PER_HOST = 8;
if (PGLITE && PROCESSES > 1) throw new Error('PGlite is one process’s database: --processes needs PostgreSQL');

const limitMs = 240_000 + N * 30 + ROUNDS * 2 * (DURATION_S * 1000 + 75_000);
const stopWatchdog = bounded('fanout', limitMs);

interface System {
  name: string;
  subscribers: Subscriber[];
  children: Child[];
  send(change: Change): Promise<void>;
}

interface Outcome {
  system: string;
  round: number;
  result: RoundResult;
  serverCpu: number;
  serverRssMb: number;
  loadGeneratorCpu: number;
}

pinSelf(1);
const work = mkdtempSync(join(tmpdir(), 'passthru-fanout-'));
const startedAt = new Date();
const loadBefore = loadAverage();

const database = PGLITE ? null : await createBenchDatabase();
if (database) onCleanup(() => database.drop());
const profileDir = CPU_PROFILE ? join(work, 'profile') : undefined;
const servers: Child[] = [];
for (let i = 0; i < PROCESSES; i++) {
  const server = await startServer({
    port: await freePort(),
    core: 0,
    databaseUrl: database?.url,
    dataDir: join(work, 'pglite'),
    logDir: work,
    cpuProfileDir: profileDir,
    // Inventory reports are these hosts' only sign of life.
    env: { PASSTHRU_HEARTBEAT_TIMEOUT: '1h' },
  });
  servers.push(server);
  onCleanup(() => server.stop('SIGINT'));
}
const url = servers[0]!.url;
const admin = await adminClient(url);
const viewer = await adminClient(url, 'VIEWER');
const cursorShape = await hasCursorShape(admin);

// --- the fleet: H hosts with 8 devices each, reported by fake agents over HTTP ---------------
const hosts = await enrollHosts(admin, HOSTS);
const agents = hosts.map((host) => new TestAgent(url, host.token, fakeHardware({ gpus: 4, usb: 2, nvme: 2 })));
for (let i = 0; i < agents.length; i += 8) await Promise.all(agents.slice(i, i + 8).map((agent) => agent.reportInventory()));
const deviceIds = await Promise.all(
  hosts.map(async (host, i) => {
    const byAddress = new Map((await hostDevices(admin, host.id)).map((d) => [d.address, d.id]));
    return agents[i]!.devices.map((d) => byAddress.get(d.address)!);
  }),
);
const hostIndexOf = (seq: number) => seq % HOSTS;
const deviceIndexOf = (seq: number) => Math.floor(seq / HOSTS) % DEVICES_PER_HOST;
let nextSeq = 0;
const changes = new Map<number, Change>();

if (database) {
  // Commit time as seen from outside the server: NOTIFY is delivered only when the transaction commits.
  await ownQuery(database, (sql) => sql`
    create function bench_committed() returns trigger language plpgsql as $$
    begin perform pg_notify('bench_commit', new.product_name); return null; end $$`);
  await ownQuery(database, (sql) => sql`
    create trigger bench_committed after update of product_name on devices for each row
    when (old.product_name is distinct from new.product_name and new.product_name like 'bench %')
    execute function bench_committed()`);
  await database.sql.listen('bench_commit', (payload) => {
    const change = changes.get(Number(BENCH_NAME.exec(payload)?.[1]));
    if (change && change.committedAt === null) change.committedAt = now();
  });
}

const chains = new Map<number, Promise<void>>();
/** One report in flight per host, so reports of one host never overtake each other. */
function sendToPassthru(change: Change): Promise<void> {
  const hostIndex = hostIndexOf(change.seq);
  const agent = agents[hostIndex]!;
  const index = deviceIndexOf(change.seq);
  const next = (chains.get(hostIndex) ?? Promise.resolve()).then(async () => {
    agent.devices[index] = { ...agent.devices[index]!, productName: `bench ${change.seq}` };
    change.sentAt = now();
    try {
      await agent.reportInventory();
      change.respondedAt = now();
    } catch {
      change.failed = true;
    }
  });
  chains.set(hostIndex, next);
  return next;
}

// Mutation latency with nobody subscribed, for comparison with the rounds.
const idle: number[] = [];
for (let i = 0; i < 40; i++) {
  const change: Change = { seq: nextSeq++, hostId: hosts[0]!.id, deviceKey: 0, sentAt: 0, respondedAt: null, committedAt: null, failed: false };
  await sendToPassthru(change);
  if (change.respondedAt !== null) idle.push(change.respondedAt - change.sentAt);
}
const idleSorted = sortedCopy(idle);

// --- the floor ------------------------------------------------------------------------------
const floor = await startFloor({ core: 0, logDir: work });
function sendToFloor(change: Change): Promise<void> {
  const hostIndex = hostIndexOf(change.seq);
  const device = { id: deviceIds[hostIndex]![deviceIndexOf(change.seq)]!, status: 'ATTACHED', productName: `bench ${change.seq}`, host: { id: change.hostId }, vm: null };
  const value = cursorShape ? { cursor: String(change.seq), device } : device;
  return floor.send(change, value);
}

// --- subscribers ----------------------------------------------------------------------------
const selection = 'id status productName host { id } vm { id }';
const query = cursorShape
  ? `subscription($hostId: ID) { deviceChanged(hostId: $hostId) { cursor device { ${selection} } } }`
  : `subscription($hostId: ID) { deviceChanged(hostId: $hostId) { ${selection} } }`;
const hostFor = (index: number) => (index % 2 === 0 ? null : hosts[(index >> 1) % HOSTS]!.id);
let connectStarted = now();
const passthruSubscribers = await connectSubscribers({ urls: servers.map((s) => s.url), token: viewer.token, query, hostFor, count: N });
const passthruConnectS = (now() - connectStarted) / 1000;
onCleanup(() => closeSubscribers(passthruSubscribers));
connectStarted = now();
const floorSubscribers = await connectSubscribers({ urls: [floor.child.url], token: null, query, hostFor, count: N });
const floorConnectS = (now() - connectStarted) / 1000;
onCleanup(() => closeSubscribers(floorSubscribers));

const systems: System[] = [
  { name: 'Passthru', subscribers: passthruSubscribers, children: servers, send: sendToPassthru },
  { name: 'floor (bare ws)', subscribers: floorSubscribers, children: [floor.child], send: sendToFloor },
];

/** One change per host, until every subscriber has heard of one: all subscriptions are live. */
async function warmUp(system: System): Promise<number> {
  const marks = system.subscribers.map((s) => s.seqs.length);
  for (let i = 0; i < HOSTS; i++) {
    const seq = nextSeq++;
    const change: Change = { seq, hostId: hosts[hostIndexOf(seq)]!.id, deviceKey: seq % (HOSTS * DEVICES_PER_HOST), sentAt: 0, respondedAt: null, committedAt: null, failed: false };
    void system.send(change);
  }
  await waitFor(() => system.subscribers.every((s, i) => s.seqs.length > marks[i]!), 60_000, 200);
  return system.subscribers.filter((s, i) => s.seqs.length === marks[i]).length;
}

async function runRound(system: System, round: number): Promise<Outcome> {
  const startIndex = system.subscribers.map((s) => s.seqs.length);
  const total = Math.round(R * DURATION_S);
  const mine = new Map<number, Change>();
  const cpuStart = system.children.map((c) => c.sample());
  const ownStart = process.cpuUsage();
  let rssMb = 0;
  const rssTimer = setInterval(() => (rssMb = Math.max(rssMb, system.children.reduce((sum, c) => sum + c.sample().rssMb, 0))), 1000);
  const t0 = now();
  const sending: Promise<void>[] = [];
  for (let k = 0; k < total; k++) {
    const wait = t0 + (k * 1000) / R - now();
    if (wait > 0) await sleep(wait);
    const seq = nextSeq++;
    const change: Change = { seq, hostId: hosts[hostIndexOf(seq)]!.id, deviceKey: seq % (HOSTS * DEVICES_PER_HOST), sentAt: 0, respondedAt: null, committedAt: null, failed: false };
    changes.set(seq, change);
    mine.set(seq, change);
    sending.push(system.send(change));
  }
  await sleep(Math.max(0, t0 + DURATION_S * 1000 - now()));
  const cpuEnd = system.children.map((c) => c.sample());
  const own = process.cpuUsage(ownStart);
  const elapsedMs = now() - t0;
  await Promise.race([Promise.allSettled(sending), sleep(60_000)]);
  // Drain: until nothing more arrives for 3 s (30 s at most).
  let delivered = -1;
  let quietSince = now();
  await waitFor(() => {
    const count = system.subscribers.reduce((sum, s, i) => sum + s.seqs.length - startIndex[i]!, 0);
    if (count !== delivered) [delivered, quietSince] = [count, now()];
    return now() - quietSince > 3000;
  }, 30_000);
  clearInterval(rssTimer);
  rssMb = Math.max(rssMb, system.children.reduce((sum, c) => sum + c.sample().rssMb, 0));
  return {
    system: system.name,
    round,
    result: analyzeRound({ changes: mine, subscribers: system.subscribers, startIndex, lateMs: LATE_MS }),
    serverCpu: cpuStart.reduce((sum, start, i) => sum + cpuPercent(start, cpuEnd[i]!), 0),
    serverRssMb: rssMb,
    loadGeneratorCpu: (100 * (own.user + own.system)) / 1000 / elapsedMs,
  };
}

const notReady = [await warmUp(systems[0]!), await warmUp(systems[1]!)];
const outcomes: Outcome[] = [];
for (let round = 1; round <= ROUNDS; round++) {
  for (const system of systems) {
    outcomes.push(await runRound(system, round));
    await sleep(2000);
  }
}

// --- report ---------------------------------------------------------------------------------
const ms = (v: number) => fmt(v, 1);
console.log(`fanout: ${N} subscribers (half filtered by host), ${R} changes/s for ${DURATION_S} s, ${ROUNDS} rounds, ${HOSTS} hosts x ${DEVICES_PER_HOST} devices`);
console.log(`  ${PGLITE ? 'PGlite (embedded)' : `PostgreSQL ${database!.name}`}; ${PROCESSES} server process(es) on core 0, load generator on core 1; subscription shape: ${cursorShape ? 'DeviceChange { cursor device }' : 'Device (no cursor)'}`);
console.log(`  ${startedAt.toISOString()}  load average before: ${loadBefore}  after: ${loadAverage()}  node ${process.version}`);
console.log(`  connect: Passthru ${fmt(passthruConnectS)} s, floor ${fmt(floorConnectS)} s; not live after warm-up: Passthru ${notReady[0]}, floor ${notReady[1]}`);
console.log(`  mutation (reportInventory) with no subscribers: p50 ${ms(percentile(idleSorted, 50))} ms, p99 ${ms(percentile(idleSorted, 99))} ms`);
console.log(`  late: delivered more than ${LATE_MS} ms after commit; times in ms\n`);
console.log(
  table(
    ['round', 'system', 'frames', 'commit p50', 'p95', 'p99', 'max', 'response p50', 'p99', 'late', 'lost', 'coalesced', 'dup', 'ooo', 'ended', 'mutation p50', 'p99', 'failed', 'server CPU %', 'RSS MB', 'loadgen CPU %'],
    outcomes.map(({ round, system, result: r, serverCpu, serverRssMb, loadGeneratorCpu }) => [
      round, system, r.frames, ms(r.fromCommit.p50), ms(r.fromCommit.p95), ms(r.fromCommit.p99), ms(r.fromCommit.max), ms(r.fromResponse.p50), ms(r.fromResponse.p99),
      r.late, r.lost, r.coalesced, r.duplicates, r.outOfOrder, r.ended, ms(r.mutations.p50), ms(r.mutations.p99), r.mutations.failed, fmt(serverCpu, 0), fmt(serverRssMb, 0), fmt(loadGeneratorCpu, 0),
    ]),
  ),
);
const of = (name: string, pick: (o: Outcome) => number) => median(outcomes.filter((o) => o.system === name).map(pick));
// [label, value, digits, compared with the floor]. The floor's "response" is its answer to
// the trigger, sent after its frames, so response and mutation rows have no meaningful ratio.
const metrics: [string, (o: Outcome) => number, number, boolean][] = [
  ['delivery from commit p50 (ms)', (o) => o.result.fromCommit.p50, 1, true],
  ['delivery from commit p95 (ms)', (o) => o.result.fromCommit.p95, 1, true],
  ['delivery from commit p99 (ms)', (o) => o.result.fromCommit.p99, 1, true],
  ['delivery from response p50 (ms)', (o) => o.result.fromResponse.p50, 1, false],
  ['delivery from response p99 (ms)', (o) => o.result.fromResponse.p99, 1, false],
  [`late (> ${LATE_MS} ms)`, (o) => o.result.late, 0, false],
  ['lost', (o) => o.result.lost, 0, false],
  ['duplicates', (o) => o.result.duplicates, 0, false],
  ['out of order', (o) => o.result.outOfOrder, 0, false],
  ['mutation p50 (ms)', (o) => o.result.mutations.p50, 1, false],
  ['mutation p99 (ms)', (o) => o.result.mutations.p99, 1, false],
  ['server CPU (% of a core)', (o) => o.serverCpu, 0, true],
  ['server RSS (MB)', (o) => o.serverRssMb, 0, true],
];
console.log(`\nmedians over ${ROUNDS} rounds`);
console.log(
  table(
    ['metric', 'Passthru', 'floor', 'ratio'],
    metrics.map(([label, pick, digits, compared]) => {
      const [a, b] = [of('Passthru', pick), of('floor (bare ws)', pick)];
      return [label, fmt(a, digits), fmt(b, digits), compared && b > 0 && Number.isFinite(a) ? `${fmt(a / b)}x` : ''];
    }),
  ),
);
const mine = outcomes.filter((o) => o.system === 'Passthru');
// PGlite lives inside the server, so the bench cannot see its commits: judge by the response there.
const [p99, floorP99] = [of('Passthru', (o) => (PGLITE ? o.result.fromResponse.p99 : o.result.fromCommit.p99)), of('floor (bare ws)', (o) => o.result.fromCommit.p99)];
const missed = mine.reduce((sum, o) => sum + o.result.late + o.result.lost, 0);
console.log(`\ntargets (issue 8), Passthru ${PGLITE ? 'from response' : 'from commit'}:`);
console.log(`  none late or lost: ${missed === 0 ? 'met' : `MISSED (${missed} over all rounds)`}`);
console.log(`  p99 within 3x the floor: ${p99 <= 3 * floorP99 ? 'met' : 'MISSED'} (${fmt(p99)} ms, ${fmt(p99 / floorP99)}x)`);
console.log(`  p99 < 100 ms (the target at 1,000 subscribers and 10 changes/s): ${p99 < 100 ? 'met' : 'missed'} (${fmt(p99)} ms)`);
const errors = outcomes.flatMap((o) => o.result.errors.map((e) => `${o.system} round ${o.round}: ${e}`));
if (errors.length) console.log(`\nsubscription errors:\n  ${errors.join('\n  ')}`);

await cleanup();
stopWatchdog();
if (profileDir) console.log(`\nserver CPU profile(s): ${readdirSync(profileDir).map((f) => join(profileDir, f)).join(', ')}`);
else rmSync(work, { recursive: true, force: true });
process.exit(0);
