import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openDatabase, type Database, type Db } from '../../server/db/client.ts';
import { clusters, devices, hosts } from '../../server/db/schema/index.ts';
import { changeLogHead } from '../../server/live/change-log.ts';
import { createLogger } from '../../server/logger.ts';
import { inTransaction } from '../../server/db/transaction.ts';
import { ChangeFeed } from '../../server/live/change-feed.ts';
import { CoalescingQueue } from '../../server/live/coalescing-queue.ts';
import type { AnyLiveEvent } from '../../server/live/events.ts';
import { LiveHub, type LiveItem } from '../../server/live/hub.ts';
import { boundToCredential } from '../../server/live/credential-bound.ts';
import { Quota } from '../../server/quota.ts';
import { createTestDatabase, type TestDatabase } from '../support/database.ts';

function hostEvent(seq: number, id: string): AnyLiveEvent {
  const now = new Date();
  return {
    seq,
    topic: 'host:changed',
    payload: { id },
    row: { id, name: id, clusterId: 'c', status: 'ONLINE', lastSeenAt: now, cpuCores: 1, memoryMb: 1, iommuEnabled: true, tokenHash: 'x', createdAt: now },
  };
}

describe('a subscriber queue', () => {
  let database: TestDatabase;
  let db: Database;
  beforeAll(async () => {
    database = await createTestDatabase();
    db = await openDatabase({ databaseUrl: database.databaseUrl, dataDir: database.dataDir });
  });
  afterAll(async () => {
    await db.close();
    await database.drop();
  });

  it('coalesces changes of one entity: a slow subscriber gets the latest state once, in sequence order', async () => {
    const hub = new LiveHub(db.feedDb, 10);
    const stream = hub.watch({ topic: 'host:changed', scope: null });
    hub.publish([hostEvent(1, 'a'), hostEvent(2, 'b'), hostEvent(3, 'a'), hostEvent(4, 'a')], 4);
    const first = await stream.next();
    const second = await stream.next();
    expect([first.value, second.value].map((item) => ('failure' in item ? item.failure : [item.seq, item.payload.id]))).toEqual([
      [2, 'b'],
      [4, 'a'],
    ]);
    await stream.return();
  });

  it('a subscriber that falls behind its queue limit is told with SubscriberBehindError, then ended', async () => {
    const hub = new LiveHub(db.feedDb, 2);
    const stream = hub.watch({ topic: 'host:changed', scope: null });
    hub.publish([hostEvent(1, 'a'), hostEvent(2, 'b'), hostEvent(3, 'c')], 3);
    const told = await stream.next();
    expect(!told.done && 'failure' in told.value ? told.value.failure.constructor.name : told).toBe('SubscriberBehindError');
    expect((await stream.next()).done).toBe(true);
    expect(hub.subscriberCount).toBe(0);
  });

  it("a shared execution's queue, which only coalesces, takes its own limit over the hub's", () => {
    const hub = new LiveHub(db.feedDb, 2);
    const shared = hub.watch({ topic: 'host:changed', scope: null, queueLimit: Number.POSITIVE_INFINITY });
    hub.publish([hostEvent(1, 'a'), hostEvent(2, 'b'), hostEvent(3, 'c')], 3);
    expect(shared.size).toBe(3);
  });

  it('a subscriber scoped to a host is not woken by another host', () => {
    const hub = new LiveHub(db.feedDb, 10);
    const stream = hub.watch({ topic: 'host:changed', scope: 'host:b' });
    hub.publish([hostEvent(1, 'a')], 1);
    expect(stream.size).toBe(0);
    hub.publish([hostEvent(2, 'b')], 2);
    expect(stream.size).toBe(1);
  });

  it('a subscriber that arrives while the feed loads a batch still receives the changes nobody wanted before it', async () => {
    const hub = new LiveHub(db.feedDb, 10);
    const late: { stream?: AsyncIterableIterator<LiveItem<'host:changed'>> } = {};
    let selects = 0;
    // The feed's second read is the rows of the batch's wanted changes (the first is the log):
    // a host subscriber arrives then, after the feed decided that nobody wanted the host change.
    const feedDb = new Proxy<Db>(db.feedDb, {
      get(target, property) {
        if (property === 'select' && ++selects === 2) late.stream = hub.watch({ topic: 'host:changed', scope: null });
        const value = Reflect.get(target, property, target);
        return typeof value === 'function' ? value.bind(target) : value;
      },
    });
    // Not started: no LISTEN and no poll, so the one read below is the only one.
    const feed = new ChangeFeed({ ...db, feedDb }, hub, createLogger('silent'), 60 * 60 * 1000);
    const [cluster] = await db.db.insert(clusters).values({ name: 'late' }).returning();
    const [host] = await db.db.insert(hosts).values({ clusterId: cluster!.id, name: 'late-host', tokenHash: 'x' }).returning();
    const [device] = await db.db.insert(devices).values({ hostId: host!.id, kind: 'USB', address: '1-1', vendorId: '046d', productId: 'c52b', status: 'ATTACHED' }).returning();
    const deviceWatcher = hub.watch({ topic: 'device:changed', scope: null });
    hub.lastSeq = await changeLogHead(db.db);
    await inTransaction(db.db, async (_tx, changes) => {
      changes.device({ id: device!.id, hostId: host!.id, vmIds: [] });
      changes.host({ id: host!.id });
    });
    feed.wake();
    await feed.stop();
    expect(selects).toBe(3);
    expect(late.stream).toBeDefined();
    expect((await late.stream!.next()).value).toMatchObject({ topic: 'host:changed', payload: { id: host!.id }, row: { name: 'late-host' } });
    expect((await deviceWatcher.next()).value).toMatchObject({ topic: 'device:changed', payload: { id: device!.id } });
  });

  it("a stream bound to a credential delivers changes until the credential expires, then says so and ends", async () => {
    const hub = new LiveHub(db.feedDb, 10);
    const source = boundToCredential(hub, { kind: 'token', id: 'expiring', expiresAt: new Date(Date.now() + 200) }, new Quota(10));
    const stream = source.watch({ topic: 'host:changed', scope: null });
    hub.publish([hostEvent(1, 'a')], 1);
    expect((await stream.next()).value).toMatchObject({ seq: 1, payload: { id: 'a' } });
    const last = await stream.next();
    expect(!last.done && 'failure' in last.value ? [last.value.failure.constructor.name, last.value.failure.message] : last).toEqual([
      'NotAuthorizedError',
      'The credential this subscription was opened with has expired; subscribe again with a valid one',
    ]);
    expect((await stream.next()).done).toBe(true);
    expect(hub.subscriberCount).toBe(0);
  });

  it('an ended queue delivers what it held, then its last item, then nothing', async () => {
    const queue = new CoalescingQueue<string>(5, () => 'overflow');
    queue.push('k', 'held');
    queue.end('last');
    queue.push('k', 'too late');
    const seen: string[] = [];
    for await (const item of queue) seen.push(item);
    expect(seen).toEqual(['held', 'last']);
  });
});
