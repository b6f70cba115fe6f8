import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import postgres from 'postgres';
import { createBenchDatabase } from '../../bench/support/database.ts';
import { cleanup, onCleanup } from '../../bench/support/lifecycle.ts';
import { pinSelf, cpuPercent, type Child } from '../../bench/support/processes.ts';
import { adminClient } from '../../bench/support/fleet.ts';
import { runLoad, type LoadTarget } from '../../bench/support/http-load.ts';
import { addPostgraphilePool, seedReadFleet } from '../../bench/comparison/read-fleet.ts';
import { startTarget } from '../../bench/comparison/targets.ts';
import { loadTarget } from '../../bench/comparison/read.ts';

pinSelf(1);
const hosts = Number(process.env.HOSTS ?? 64);
const rounds = Number(process.env.ROUNDS ?? 3);
const seconds = Number(process.env.SECS ?? 5);
const db = await createBenchDatabase();
onCleanup(() => db.drop());
const logDir = mkdtempSync(join(tmpdir(), 'readab-'));
const p = await startTarget('passthru', { databaseUrl: db.url, core: 0, logDir, cpuProfileDir: process.env.PROF });
const sql = postgres(db.url, { max: 1 });
await seedReadFleet(sql, hosts);
await addPostgraphilePool(sql);
await sql.end();
const admin = await adminClient(p.url, 'VIEWER');
const token = admin.token ?? '';
const targets: { name: string; target: LoadTarget; child: Child }[] = [{ name: 'passthru', target: loadTarget('passthru', p, token), child: p }];
if (process.env.PG !== '0') {
  const g = await startTarget('postgraphile', { databaseUrl: db.url, core: 0, logDir });
  targets.push({ name: 'postgraphile', target: loadTarget('postgraphile', g, token), child: g });
}
for (const { target } of targets) await runLoad(target, 16, 1000);
const res: Record<string, number[]> = {};
for (let r = 0; r < rounds; r++) {
  for (const { name, target, child } of targets) {
    const before = child.sample();
    const out = await runLoad(target, 16, seconds * 1000);
    const cpu = cpuPercent(before, child.sample());
    (res[name] ??= []).push(out.perSecond);
    console.log(name, out.perSecond.toFixed(1), 'req/s', 'cpu', cpu.toFixed(0), 'failed', out.failed);
  }
}
for (const [k, v] of Object.entries(res)) console.log(k, 'median', v.sort((a, b) => a - b)[Math.floor(v.length / 2)]!.toFixed(1));
await admin.close();
await cleanup();
process.exit(0);
