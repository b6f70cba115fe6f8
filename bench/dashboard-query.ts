// How the console's hosts -> devices -> VM query scales with the fleet, planned by the Pothos
// drizzle plugin (one SQL statement), beside a baseline measured in the same run: the same rows
// loaded the naive way, one query per host and per device's VM (N+1).
//
//   npx tsx bench/dashboard-query.ts            (embedded PGlite)
//   DATABASE_URL=postgres://... npx tsx bench/dashboard-query.ts
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { eq } from 'drizzle-orm';
import { buildApp } from '../server/app.ts';
import { loadConfig } from '../server/config.ts';
import { devices, vms } from '../server/db/schema/index.ts';
import { createLogger } from '../server/logger.ts';
import { Seed } from '../tests/support/seed.ts';
import { ADMIN, signedInClient } from '../tests/support/server.ts';
import { graphql } from '../protocol/graphql.ts';

const QUERY = graphql(`query BenchDashboard { hosts(first: 500) { nodes { name status devices(first: 8) { nodes { address status vm { name status } } } } } }`);
const ROUNDS = 20;

async function timed(work: () => Promise<unknown>) {
  await work(); // warm-up
  const started = performance.now();
  for (let i = 0; i < ROUNDS; i++) await work();
  return (performance.now() - started) / ROUNDS;
}

const dataDir = mkdtempSync(join(tmpdir(), 'passthru-bench-'));
const app = await buildApp(
  { ...loadConfig({}), dataDir, adminUsername: ADMIN.username, adminPassword: ADMIN.password, heartbeatTimeoutMs: 3_600_000 },
  { logger: createLogger('silent') },
);
const url = `http://127.0.0.1:${await app.start(0)}`;
const client = await signedInClient(url, ADMIN, 'ADMIN');
const seed = new Seed(client, url);
const cluster = await seed.cluster('bench');
const db = app.database.db;

async function naive() {
  const hostRows = await db.query.hosts.findMany({ orderBy: { name: 'asc' } });
  for (const host of hostRows) {
    const rows = await db.select().from(devices).where(eq(devices.hostId, host.id));
    for (const device of rows) if (device.vmId) await db.select().from(vms).where(eq(vms.id, device.vmId));
  }
}

console.log(`hosts | planned GraphQL query (ms) | naive N+1 reads, no GraphQL (ms)`);
let hosts = 0;
for (const target of [4, 16, 64]) {
  while (hosts < target) {
    const { agent } = await cluster.host({ name: `bench-${hosts}`, gpus: 4, usb: 2, nvme: 2 });
    await agent.disconnect();
    hosts++;
  }
  const planned = await timed(() => client.data(QUERY));
  const baseline = await timed(naive);
  console.log(`${String(target).padStart(5)} | ${planned.toFixed(1).padStart(26)} | ${baseline.toFixed(1).padStart(32)}`);
}

await client.close();
await app.stop();
rmSync(dataDir, { recursive: true, force: true });
