import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openDatabase, type Database } from '../../server/db/client.ts';
import { CoalescingQueue } from '../../server/live/coalescing-queue.ts';
import type { AnyLiveEvent } from '../../server/live/events.ts';
import { LiveHub } from '../../server/live/hub.ts';
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
