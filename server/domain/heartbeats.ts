import { and, asc, eq, inArray, isNull, lt, lte, or, sql } from 'drizzle-orm';
import type { Db } from '../db/client.ts';
import { hosts } from '../db/schema/index.ts';
import { inTransaction } from '../db/transaction.ts';
import { NotFoundError } from './errors.ts';
import type { HostRow } from './hosts.ts';

export interface HeartbeatBatcherOptions {
  /** How often the heartbeats gathered in memory are written, all hosts in one statement. */
  flushIntervalMs: number;
  /** A host silent this long is marked OFFLINE. */
  timeoutMs: number;
  /** A failed background flush; its heartbeats are kept for the next one. */
  onError?: (error: unknown) => void;
}

/**
 * Heartbeats of one server process, kept in memory and written once per interval for every
 * host that sent one, so a heartbeat costs no transaction of its own however large the fleet.
 * The database's last_seen_at stays the truth across replicas: each process writes the hosts
 * whose agents it serves, and the sweep of any process reads them all.
 */
export class HeartbeatBatcher {
  readonly #db: Db;
  readonly #options: HeartbeatBatcherOptions;
  #pending = new Map<string, Date>();
  /** Hosts a flush found deleted: their agents' next heartbeats are refused. */
  readonly #gone = new Set<string>();
  #flushing: Promise<unknown> = Promise.resolve();
  /** Flushes queued or running: the timer adds none while one is, so a slow database is not piled on. */
  #flushes = 0;
  #timer: NodeJS.Timeout | undefined;
  #startedAt: Date | null = null;

  constructor(db: Db, options: HeartbeatBatcherOptions) {
    this.#db = db;
    this.#options = options;
  }

  /** Notes that the host's agent is alive now; written with the next flush. */
  record(hostId: string, at = new Date()): Date {
    if (this.#gone.has(hostId)) throw new NotFoundError('Host', hostId);
    this.#pending.set(hostId, at);
    return at;
  }

  /** Writes the heartbeats gathered so far; resolves with the number of hosts written. */
  flush(): Promise<number> {
    // One flush at a time, so a slow one is never overtaken by an older batch.
    this.#flushes += 1;
    const next = this.#flushing.then(() => this.#writePending()).finally(() => (this.#flushes -= 1));
    this.#flushing = next.catch(() => {});
    return next;
  }

  start() {
    this.#startedAt ??= new Date();
    this.#timer ??= setInterval(() => {
      if (this.#flushes === 0) this.flush().catch((error) => this.#options.onError?.(error));
    }, this.#options.flushIntervalMs);
  }

  /** Stops the timer and writes what is still in memory, so a clean shutdown loses no heartbeat. */
  async stop() {
    clearInterval(this.#timer);
    this.#timer = undefined;
    await this.flush().catch((error) => this.#options.onError?.(error));
  }

  /** Marks hosts silent past the timeout OFFLINE, after the grace this process owes them since it started. */
  markSilentHostsOffline(now = new Date()): Promise<number> {
    if (!this.#startedAt) return Promise.resolve(0);
    return markSilentHostsOffline(this.#db, this.#options.timeoutMs, { now, startedAt: this.#startedAt });
  }

  async #writePending(): Promise<number> {
    if (this.#pending.size === 0) return 0;
    const batch = this.#pending;
    this.#pending = new Map();
    try {
      const written = await writeHeartbeats(this.#db, batch);
      for (const hostId of batch.keys()) if (!written.has(hostId)) this.#gone.add(hostId);
      return written.size;
    } catch (error) {
      // Kept for the next flush unless a newer heartbeat of the same host arrived meanwhile.
      for (const [hostId, at] of batch) if (!this.#pending.has(hostId)) this.#pending.set(hostId, at);
      throw error;
    }
  }
}

/** The heartbeat mutation: answered at once, written with the next flush. */
export function heartbeat(batcher: HeartbeatBatcher, host: HostRow): HostRow {
  const lastSeenAt = batcher.record(host.id);
  return { ...host, status: 'ONLINE', lastSeenAt };
}

/**
 * Sets last_seen_at (and ONLINE) for every host in `seen` with one UPDATE, and announces the
 * hosts that came back from OFFLINE: only a real status transition is an event. Returns the
 * IDs of the hosts that still exist.
 */
export async function writeHeartbeats(db: Db, seen: Map<string, Date>): Promise<Set<string>> {
  const rows = JSON.stringify([...seen].map(([id, at]) => ({ id, at: at.toISOString() })));
  return inTransaction(db, async (tx, changes) => {
    // The locking subquery reads each host's status as of the lock, so a concurrent sweep that
    // just marked it OFFLINE is seen; hosts are locked in ID order, like everywhere else.
    const before = tx
      .select({ id: hosts.id, status: hosts.status, at: sql<Date>`seen.at`.as('seen_at') })
      .from(hosts)
      .innerJoin(sql`json_to_recordset(${rows}::json) as seen(id uuid, at timestamptz)`, sql`seen.id = ${hosts.id}`)
      .orderBy(asc(hosts.id))
      .for('no key update', { of: hosts })
      .as('before');
    const written = await tx
      .update(hosts)
      .set({ status: 'ONLINE', lastSeenAt: sql`greatest(${hosts.lastSeenAt}, ${before.at})` })
      .from(before)
      .where(eq(hosts.id, before.id))
      .returning({ id: hosts.id, was: before.status });
    for (const host of written) if (host.was !== 'ONLINE') changes.host({ id: host.id });
    return new Set(written.map((host) => host.id));
  });
}

/**
 * Hosts silent for longer than the heartbeat timeout go OFFLINE. A process that started less
 * than one timeout ago marks none: the agents of a restarted server need that long to
 * reconnect, and their last_seen_at still dates from before the restart. SKIP LOCKED passes
 * over hosts whose heartbeats are being written right now.
 */
export async function markSilentHostsOffline(db: Db, timeoutMs: number, options: { now?: Date; startedAt?: Date } = {}) {
  const now = options.now ?? new Date();
  const cutoff = new Date(now.getTime() - timeoutMs);
  if (options.startedAt && options.startedAt > cutoff) return 0;
  return inTransaction(db, async (tx, changes) => {
    const silent = tx
      .select({ id: hosts.id })
      .from(hosts)
      .where(and(eq(hosts.status, 'ONLINE'), lt(hosts.lastSeenAt, cutoff)))
      .orderBy(asc(hosts.id))
      .for('no key update', { skipLocked: true });
    const offline = await tx.update(hosts).set({ status: 'OFFLINE' }).where(inArray(hosts.id, silent)).returning({ id: hosts.id });
    for (const host of offline) changes.host({ id: host.id });
    return offline.length;
  });
}

/**
 * Marks the host OFFLINE once its agent's connection to this process has closed, unless the
 * agent has been heard of since (a heartbeat through any process, flushed after `closedAt`).
 * Returns whether it did.
 */
export async function markDisconnectedHostOffline(db: Db, hostId: string, closedAt: Date): Promise<boolean> {
  return inTransaction(db, async (tx, changes) => {
    const offline = await tx
      .update(hosts)
      .set({ status: 'OFFLINE' })
      .where(and(eq(hosts.id, hostId), eq(hosts.status, 'ONLINE'), or(isNull(hosts.lastSeenAt), lte(hosts.lastSeenAt, closedAt))))
      .returning({ id: hosts.id });
    for (const host of offline) changes.host({ id: host.id });
    return offline.length > 0;
  });
}
