import { eq } from 'drizzle-orm';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { graphql } from '../../protocol/graphql.ts';
import { openDatabase, type Database } from '../../server/db/client.ts';
import { hosts } from '../../server/db/schema/index.ts';
import { NotFoundError } from '../../server/domain/errors.ts';
import { HeartbeatBatcher } from '../../server/domain/heartbeats.ts';
import { createCluster, enrollHost } from '../../server/domain/hosts.ts';
import { ChangeSet } from '../../server/db/transaction.ts';
import { eventually } from '../support/client.ts';
import { createTestDatabase, type TestDatabase } from '../support/database.ts';
import { Seed } from '../support/seed.ts';
import { startTestServer } from '../support/server.ts';

// The batcher against a database of its own: a test opens it directly, as a server process does.
let testDatabase: TestDatabase;
let database: Database;
let statements: string[] = [];
const TIMEOUT_MS = 30_000;
const LAST_SEEN = graphql(`query($id: ID!) { host(id: $id) { lastSeenAt } }`);
const services = () => ({ db: database.db, actor: 'test', operationTimeoutMs: 60_000, operationQueueTimeoutMs: 60_000 });

beforeAll(async () => {
  testDatabase = await createTestDatabase();
  database = await openDatabase({ databaseUrl: testDatabase.databaseUrl, dataDir: testDatabase.dataDir, onQuery: (sql) => statements.push(sql) });
});
afterAll(async () => {
  await database.close();
  await testDatabase.drop();
});
afterEach(() => vi.restoreAllMocks());

async function enrollHosts(count: number) {
  const cluster = await createCluster(services(), `c-${Math.random().toString(36).slice(2, 8)}`);
  const ids: string[] = [];
  for (let i = 0; i < count; i++) ids.push((await enrollHost(services(), { name: `h-${Math.random().toString(36).slice(2, 10)}`, clusterId: cluster.id })).host.id);
  return ids;
}

async function hostRow(id: string) {
  const [row] = await database.db.select().from(hosts).where(eq(hosts.id, id));
  return row!;
}

/** A batcher with no timer running: the test decides when it flushes. */
function batcher() {
  return new HeartbeatBatcher(database.db, { flushIntervalMs: 60 * 60 * 1000, timeoutMs: TIMEOUT_MS });
}

async function statementsOf(work: () => Promise<unknown>) {
  statements = [];
  await work();
  const seen = statements;
  statements = [];
  return seen;
}

/** Writes to the hosts, not the change log's one append of the hosts that came back. */
const writes = (seen: string[]) => seen.filter((sql) => /^\s*(update|insert|delete)\b/i.test(sql) && !/^\s*insert into "change_log"/i.test(sql));

describe('heartbeats are batched', () => {
  it('heartbeats of every host are written in one UPDATE per flush, however many hosts sent one', async () => {
    const few = await enrollHosts(2);
    const many = await enrollHosts(20);
    const heartbeats = batcher();

    for (const id of few) heartbeats.record(id);
    const forFew = await statementsOf(() => heartbeats.flush());
    for (const id of many) heartbeats.record(id);
    const forMany = await statementsOf(() => heartbeats.flush());

    expect(writes(forFew)).toHaveLength(1);
    expect(writes(forFew)[0]).toMatch(/^update "hosts"/i);
    expect(forMany.length).toBe(forFew.length);
    for (const id of [...few, ...many]) expect(await hostRow(id)).toMatchObject({ status: 'ONLINE', lastSeenAt: expect.any(Date) });
  });

  it('recording a heartbeat touches no database until the flush', async () => {
    const [id] = await enrollHosts(1);
    const heartbeats = batcher();
    expect(await statementsOf(async () => heartbeats.record(id!))).toEqual([]);
    expect((await hostRow(id!)).lastSeenAt).toBeNull();
    await heartbeats.flush();
    expect((await hostRow(id!)).lastSeenAt).not.toBeNull();
  });

  it('only hosts that come back from OFFLINE are announced', async () => {
    const [online, offline] = await enrollHosts(2);
    const heartbeats = batcher();
    heartbeats.record(online!);
    await heartbeats.flush();
    const announced = vi.spyOn(ChangeSet.prototype, 'host');

    heartbeats.record(online!);
    heartbeats.record(offline!);
    await heartbeats.flush();

    expect(announced.mock.calls.map(([change]) => change.id)).toEqual([offline]);
  });

  it('a heartbeat never moves last_seen_at backwards', async () => {
    const [id] = await enrollHosts(1);
    const a = batcher();
    const b = batcher();
    a.record(id!, new Date('2030-01-01T00:00:10Z'));
    await a.flush();
    b.record(id!, new Date('2030-01-01T00:00:05Z'));
    await b.flush();
    expect((await hostRow(id!)).lastSeenAt).toEqual(new Date('2030-01-01T00:00:10Z'));
  });

  it('the heartbeat of a host that no longer exists is refused with NotFoundError', async () => {
    const [id] = await enrollHosts(1);
    const heartbeats = batcher();
    heartbeats.record(id!);
    await database.db.delete(hosts).where(eq(hosts.id, id!));
    expect(await heartbeats.flush()).toBe(0);
    expect(() => heartbeats.record(id!)).toThrow(NotFoundError);
  });

  it('stopping writes the heartbeats still in memory', async () => {
    const [id] = await enrollHosts(1);
    const heartbeats = batcher();
    heartbeats.start();
    heartbeats.record(id!);
    await heartbeats.stop();
    expect(await hostRow(id!)).toMatchObject({ status: 'ONLINE', lastSeenAt: expect.any(Date) });
  });

  it('two processes each writing their own hosts keep every host ONLINE', async () => {
    const [first, second, shared] = await enrollHosts(3);
    const processA = batcher();
    const processB = batcher();
    processA.start();
    processB.start();
    try {
      // The same host in both batches (an agent that moved to another replica) must not deadlock.
      processA.record(first!);
      processA.record(shared!);
      processB.record(second!);
      processB.record(shared!);
      await Promise.all([processA.flush(), processB.flush()]);
      const soon = new Date(Date.now() + TIMEOUT_MS / 2);
      expect(await processA.markSilentHostsOffline(soon)).toBe(0);
      for (const id of [first, second, shared]) expect((await hostRow(id!)).status).toBe('ONLINE');
    } finally {
      await processA.stop();
      await processB.stop();
    }
  });
});

describe('OFFLINE detection', () => {
  it('after a server starts, hosts get one heartbeat timeout of grace before being marked OFFLINE', async () => {
    const [id] = await enrollHosts(1);
    // Last heard from long before this process started (the server was down).
    await database.db.update(hosts).set({ status: 'ONLINE', lastSeenAt: new Date(Date.now() - 10 * TIMEOUT_MS) }).where(eq(hosts.id, id!));
    const heartbeats = batcher();
    heartbeats.start();
    try {
      const started = Date.now();
      expect(await heartbeats.markSilentHostsOffline(new Date(started + TIMEOUT_MS / 2))).toBe(0);
      expect((await hostRow(id!)).status).toBe('ONLINE');
      expect(await heartbeats.markSilentHostsOffline(new Date(started + TIMEOUT_MS + 1_000))).toBeGreaterThanOrEqual(1);
      expect((await hostRow(id!)).status).toBe('OFFLINE');
    } finally {
      await heartbeats.stop();
    }
  });

  it('a heartbeat over the API answers without writing; the next flush writes its last_seen_at', async () => {
    let counting = false;
    const seen: string[] = [];
    const server = await startTestServer({
      config: { heartbeatFlushIntervalMs: 50, sweepIntervalMs: 60 * 60 * 1000 },
      onQuery: (sql) => counting && seen.push(sql),
    });
    try {
      const seed = new Seed(server.client, server.url);
      const { id: hostId, agent } = await seed.cluster().host({ name: 'beating', usb: 1 });
      const lastSeen = async () => (await server.client.data(LAST_SEEN, { id: hostId })).host!.lastSeenAt;
      const before = await lastSeen();
      counting = true;
      expect((await agent.heartbeat()).heartbeat.__typename).toBe('Host');
      counting = false;
      // The batch flush runs on its own timer and may fall inside this window; nothing else may write.
      expect(writes(seen).filter((sql) => !sql.includes('json_to_recordset'))).toEqual([]);
      await eventually(async () => (await lastSeen()) !== before);
      await agent.disconnect();
    } finally {
      await server.stop();
    }
  });
});
