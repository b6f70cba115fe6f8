// The tables and the verdict line of bench/compare.ts: medians over the interleaved rounds.
import { fmt, sortedCopy, table } from '../support/stats.ts';
import type { MutationResult } from './mutations.ts';
import type { ReadPoint, StatementCount } from './read.ts';
import type { TargetName } from './targets.ts';
import type { CycleResult } from './write.ts';
import { SIM_LATENCY_MS } from './write-fleet.ts';

export interface WriteRow {
  workload: string;
  target: 'passthru' | 'floor';
  runs: CycleResult[];
  /** Passthru's server CPU over each run, % of one core. */
  cpu: number[];
}

type Print = (line: string) => void;

/** The median of the rounds, the mean of the middle two for an even count (two rounds: their mean). */
export function median(values: readonly number[]): number {
  const sorted = sortedCopy(values.filter((v) => Number.isFinite(v)));
  if (sorted.length === 0) return Number.NaN;
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[middle]! : (sorted[middle - 1]! + sorted[middle]!) / 2;
}

function of(points: ReadPoint[], hosts: number, concurrency: number, target: TargetName) {
  const runs = points.find((p) => p.hosts === hosts && p.concurrency === concurrency && p.target === target)?.runs ?? [];
  return {
    perSecond: median(runs.map((r) => r.perSecond)),
    p50: median(runs.map((r) => r.p50)),
    p99: median(runs.map((r) => r.p99)),
    failed: runs.reduce((sum, r) => sum + r.failed, 0),
    cpu: median(points.find((p) => p.hosts === hosts && p.concurrency === concurrency && p.target === target)?.cpu ?? []),
  };
}

function readKeys(points: ReadPoint[]) {
  const keys = new Map<string, { hosts: number; concurrency: number }>();
  for (const p of points) keys.set(`${p.hosts}/${p.concurrency}`, { hosts: p.hosts, concurrency: p.concurrency });
  return [...keys.values()];
}

export function printRead(points: ReadPoint[], print: Print) {
  const rows = readKeys(points).map(({ hosts, concurrency }) => {
    const [a, b, c] = (['passthru', 'postgraphile', 'floor'] as const).map((t) => of(points, hosts, concurrency, t));
    const failed = a!.failed + b!.failed + c!.failed;
    return [
      `${hosts} hosts, c=${concurrency}`,
      ...[a!, b!, c!].flatMap((t) => [fmt(t.perSecond), fmt(t.p50), fmt(t.p99)]),
      fmt(a!.perSecond / b!.perSecond, 2),
      fmt(a!.perSecond / c!.perSecond, 2),
      [a!, b!, c!].map((t) => fmt(t.cpu, 0)).join(' / '),
      failed,
    ];
  });
  print('\nread: the dashboard (hosts -> devices -> VM, first 500 hosts, and the pool by kind); medians of the rounds; ms');
  print(table(['point', 'Passthru req/s', 'p50', 'p99', 'PostGraphile req/s', 'p50', 'p99', 'floor req/s', 'p50', 'p99', 'vs PostGraphile', 'vs floor', 'server CPU %', 'failed'], rows));
}

export function printStatements(counts: StatementCount[], print: Print) {
  const sizes = [...new Set(counts.map((c) => c.hosts))];
  const cell = (hosts: number, target: TargetName) => {
    const c = counts.find((x) => x.hosts === hosts && x.target === target);
    return c ? `${fmt(c.statements, 1)} (+${fmt(c.control, 1)} BEGIN/COMMIT)` : 'n/a';
  };
  print('\nSQL statements per request (counted on the wire, transaction control apart)');
  print(table(['hosts', 'Passthru', 'PostGraphile', 'floor'], sizes.map((h) => [String(h), cell(h, 'passthru'), cell(h, 'postgraphile'), cell(h, 'floor')])));
  for (const c of counts.filter((x) => x.target === 'passthru' && x.hosts === sizes.at(-1))) {
    for (const text of c.sample) print(`  Passthru ran: ${text}`);
  }
  print('  PostGraphile answers the nested hosts -> devices -> VM part with its own SQL; its pool is a SQL function the bench adds (bench_postgraphile.pool_by_kind), each root field one statement.');
}

export function printWrite(rows: WriteRow[], doubles: { doubles: number; brokenChains: number; events: number }, print: Print) {
  print(`\nwrite: provisionVm (1 GPU) -> agent up -> deleteVm -> agent down, per client in a loop; sim agents answer after ${SIM_LATENCY_MS} ms; floor: one SKIP LOCKED statement, then one delete; medians of the rounds; ms`);
  print(
    table(
      ['workload', 'target', 'provisions/s', 'p50', 'p99', 'cycle p50', 'answer -> RUNNING p50', 'deleteVm -> DELETED p50', 'server CPU %', 'refused', 'errors'],
      rows.map((row) => [
        row.workload,
        row.target,
        fmt(median(row.runs.map((r) => r.perSecond))),
        fmt(median(row.runs.map((r) => r.p50))),
        fmt(median(row.runs.map((r) => r.p99))),
        fmt(median(row.runs.map((r) => r.cycleP50))),
        row.target === 'floor' ? '-' : fmt(median(row.runs.map((r) => r.upP50))),
        row.target === 'floor' ? '-' : fmt(median(row.runs.map((r) => r.downP50))),
        row.target === 'floor' ? '-' : fmt(median(row.cpu), 0),
        row.runs.reduce((sum, r) => sum + r.refused, 0),
        row.runs.reduce((sum, r) => sum + r.errors, 0),
      ]),
    ),
  );
  const firstError = rows.flatMap((row) => row.runs.map((r) => r.firstError)).find((e) => e !== null);
  if (firstError) print(`  first error: ${firstError}`);
  print(`  devices ever held by two VMs (device_events, ${doubles.events} events): ${doubles.doubles}; events not continuing the previous one: ${doubles.brokenChains}`);
}

export function printMutations(results: MutationResult[], print: Print) {
  const update = results.find((r) => r.name.startsWith('floor'));
  print('\nmutations at c=1 (call to answer; the agent acknowledges after, untimed); ms');
  print(table(['mutation', 'count', 'p50', 'p99', 'p50 / one UPDATE'], results.map((r) => [r.name, r.count, fmt(r.p50, 2), fmt(r.p99, 2), fmt(r.p50 / (update?.p50 ?? Number.NaN), 1)])));
  for (const r of results) if (r.errors.length) print(`  ${r.name}: ${r.errors.length} errors, first: ${r.errors[0]}`);
}

export function verdict(points: ReadPoint[], rows: WriteRow[], doubles: number): string {
  const ratios = readKeys(points).map(({ hosts, concurrency }) => of(points, hosts, concurrency, 'passthru').perSecond / of(points, hosts, concurrency, 'postgraphile').perSecond);
  const minRatio = ratios.length ? Math.min(...ratios) : Number.NaN;
  const main = rows.find((r) => r.target === 'passthru');
  const provisions = median(main?.runs.map((r) => r.perSecond) ?? []);
  return `verdict: read/postgraphile ${fmt(minRatio, 2)} provisions/s ${fmt(provisions, 1)} double-assignments ${doubles}`;
}
