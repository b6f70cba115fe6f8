// What one round of bench/fanout.ts delivered, judged per subscriber against what it should
// have received: latencies, late, lost, coalesced, duplicate and out-of-order events.
import { percentile, sortedCopy } from './stats.ts';
import type { Subscriber } from './subscribers.ts';

/** One change the load generator made: its host, when it was sent, answered and committed. */
export interface Change {
  seq: number;
  hostId: string;
  /** Changes of one device are `seq` apart by a multiple of this (see fanout.ts `deviceOf`). */
  deviceKey: number;
  sentAt: number;
  respondedAt: number | null;
  /** When the commit became visible (NOTIFY from the bench's trigger, or the floor's own clock). */
  committedAt: number | null;
  failed: boolean;
}

export interface RoundResult {
  frames: number;
  fromCommit: { p50: number; p95: number; p99: number; max: number };
  fromResponse: { p50: number; p95: number; p99: number; max: number };
  late: number;
  lost: number;
  /** Not delivered, but a later state of the same device was: coalescing, as the server may do. */
  coalesced: number;
  duplicates: number;
  outOfOrder: number;
  /** Subscribers whose subscription has ended or errored so far (SubscriberBehindError, closed sockets). */
  ended: number;
  errors: string[];
  mutations: { p50: number; p99: number; failed: number };
}

/** Cursors are opaque strings; numeric ones (sequence numbers) compare as numbers. */
export function compareCursors(a: string, b: string): number {
  if (/^\d+$/.test(a) && /^\d+$/.test(b)) return a.length - b.length || (a < b ? -1 : a > b ? 1 : 0);
  return a < b ? -1 : a > b ? 1 : 0;
}

function summary(values: number[]) {
  const sorted = sortedCopy(values);
  return { p50: percentile(sorted, 50), p95: percentile(sorted, 95), p99: percentile(sorted, 99), max: sorted.at(-1) ?? Number.NaN };
}

export function analyzeRound(options: {
  changes: Map<number, Change>;
  subscribers: Subscriber[];
  /** Index into each subscriber's arrays where this round's deliveries start. */
  startIndex: number[];
  lateMs: number;
}): RoundResult {
  const { changes, subscribers, startIndex, lateMs } = options;
  const delivered = [...changes.values()].filter((c) => !c.failed);
  const byHost = new Map<string, number[]>();
  for (const change of delivered) {
    const list = byHost.get(change.hostId) ?? [];
    list.push(change.seq);
    byHost.set(change.hostId, list);
  }
  const all = delivered.map((c) => c.seq);

  // The commit is visible to the bench through its own NOTIFY; a delivery or the mutation's
  // answer can still be processed first on this busy event loop, and the commit preceded both.
  const firstSeen = new Map<number, number>();
  subscribers.forEach((subscriber, i) => {
    for (let k = startIndex[i]!; k < subscriber.seqs.length; k++) {
      const seq = subscriber.seqs[k]!;
      if (!changes.has(seq)) continue;
      const at = subscriber.times[k]!;
      if (!(at >= (firstSeen.get(seq) ?? Infinity))) firstSeen.set(seq, at);
    }
  });
  const commitOf = (change: Change) => {
    if (change.committedAt === null) return null;
    return Math.min(change.committedAt, change.respondedAt ?? Infinity, firstSeen.get(change.seq) ?? Infinity);
  };

  const fromCommit: number[] = [];
  const fromResponse: number[] = [];
  let frames = 0;
  let late = 0;
  let lost = 0;
  let coalesced = 0;
  let duplicates = 0;
  let outOfOrder = 0;
  let ended = 0;
  const errors = new Map<string, number>();
  subscribers.forEach((subscriber, i) => {
    if (subscriber.ended || !subscriber.connected) ended++;
    for (const error of subscriber.errors) errors.set(error, (errors.get(error) ?? 0) + 1);
    const received = new Set<number>();
    const newest = new Map<number, number>();
    let lastCursor: string | null = null;
    for (let k = startIndex[i]!; k < subscriber.seqs.length; k++) {
      const seq = subscriber.seqs[k]!;
      const change = changes.get(seq);
      if (!change) continue;
      const at = subscriber.times[k]!;
      frames++;
      const cursor = subscriber.cursors[k] ?? null;
      if (received.has(seq)) duplicates++;
      else if ((newest.get(change.deviceKey) ?? -1) > seq || (cursor !== null && lastCursor !== null && compareCursors(cursor, lastCursor) < 0)) outOfOrder++;
      received.add(seq);
      newest.set(change.deviceKey, Math.max(seq, newest.get(change.deviceKey) ?? -1));
      if (cursor !== null) lastCursor = cursor;
      const committed = commitOf(change);
      if (committed !== null) fromCommit.push(at - committed);
      if (change.respondedAt !== null) fromResponse.push(at - change.respondedAt);
      if (at - (committed ?? change.respondedAt ?? change.sentAt) > lateMs) late++;
    }
    const expected = subscriber.hostId === null ? all : (byHost.get(subscriber.hostId) ?? []);
    for (const seq of expected) {
      if (received.has(seq)) continue;
      if ((newest.get(changes.get(seq)!.deviceKey) ?? -1) > seq) coalesced++;
      else lost++;
    }
  });

  const mutationTimes = delivered.filter((c) => c.respondedAt !== null).map((c) => c.respondedAt! - c.sentAt);
  const mutations = summary(mutationTimes);
  return {
    frames,
    fromCommit: summary(fromCommit),
    fromResponse: summary(fromResponse),
    late,
    lost,
    coalesced,
    duplicates,
    outOfOrder,
    ended,
    errors: [...errors].map(([error, count]) => `${count}x ${error}`),
    mutations: { p50: mutations.p50, p99: mutations.p99, failed: changes.size - delivered.length },
  };
}
