import type { Queryable } from '../db/client.ts';
import { CursorExpiredError, SubscriberBehindError, ValidationError, type DomainError } from '../domain/errors.ts';
import type { ChangeMessage, Topic, Topics } from '../pubsub.ts';
import { changeLogHead, changeLogHorizonSeq, latestChangesPerEntity } from './change-log.ts';
import { CoalescingQueue } from './coalescing-queue.ts';
import { entityKey, isMessageOf, isTopic, loadEvents, scopesOf, type AnyLiveEvent, type LiveEvent } from './events.ts';

/** What a subscription stream yields: a change, or the reason it ends (delivered as the last item). */
export type LiveItem<T extends Topic> = LiveEvent<T> | { failure: DomainError };

export interface Watch<T extends Topic> {
  topic: T;
  /** `host:<id>` or `vm:<id>`: only changes announced under this scope wake the subscriber; null for all. */
  scope: string | null;
  /** A further condition on the payload, checked only for changes in scope. */
  keep?: (payload: Topics[T]) => boolean;
  /** Resume after this cursor: replay what was committed since (latest state per entity), then go live. */
  after?: string | null;
  /** Only the replay: the stream ends once it has delivered what changed since `after`. */
  replayOnly?: boolean;
  /** Overrides the hub's queue limit (a shared execution's members have their own). */
  queueLimit?: number;
}

/** What subscription fields watch through: the hub itself, or a shared execution's tap on it. */
export interface LiveSource {
  watch<T extends Topic>(watch: Watch<T>): AsyncIterableIterator<LiveItem<T>>;
}

interface Subscriber {
  /** Whether this change (in scope already) would be delivered. */
  wants(message: ChangeMessage): boolean;
  deliver(event: AnyLiveEvent): void;
}

export const CURSOR = /^[0-9]{1,15}$/;

export function formatCursor(seq: number): string {
  return String(seq);
}

export function parseCursor(cursor: string): number {
  if (!CURSOR.test(cursor)) throw new ValidationError('after', `"${cursor.slice(0, 40)}" is not a cursor: pass the cursor of an event you received`);
  return Number(cursor);
}

/**
 * One process's dispatch of committed changes to its subscribers. Subscribers are indexed by
 * topic and scope, so a change wakes only those who asked for its host, VM, or everything.
 */
export class LiveHub implements LiveSource {
  #subscribers = new Map<string, Set<Subscriber>>();
  #listeners = new Map<Topic, Set<(event: AnyLiveEvent) => void>>();
  /** The newest sequence published: everything up to it has been delivered to the queues. */
  lastSeq = 0;

  constructor(
    private readonly db: Queryable,
    private readonly queueLimit: number,
  ) {}

  get subscriberCount() {
    let count = 0;
    for (const set of this.#subscribers.values()) count += set.size;
    return count;
  }

  /**
   * Whether anyone in this process would receive the change: the feed loads rows only for
   * those, so changes nobody here watches (most device changes, every finished operation an
   * agent ignores) cost no read.
   */
  wants(message: ChangeMessage): boolean {
    if (this.#listeners.get(message.topic)?.size) return true;
    for (const scope of ['*', ...scopesOf(message)]) {
      for (const subscriber of this.#subscribers.get(`${message.topic}|${scope}`) ?? []) if (subscriber.wants(message)) return true;
    }
    return false;
  }

  /** Hands a batch of loaded changes to every subscriber in scope. */
  publish(events: readonly AnyLiveEvent[], throughSeq: number) {
    for (const event of events) {
      for (const listener of this.#listeners.get(event.topic) ?? []) listener(event);
      for (const scope of ['*', ...scopesOf(event)]) {
        for (const subscriber of this.#subscribers.get(`${event.topic}|${scope}`) ?? []) subscriber.deliver(event);
      }
    }
    this.lastSeq = Math.max(this.lastSeq, throughSeq);
  }

  /** Calls `listener` for every change of `topic`, unqueued (internal uses: closing revoked sockets). */
  on<T extends Topic>(topic: T, listener: (event: LiveEvent<T>) => void): () => void {
    const wrapped = (event: AnyLiveEvent) => {
      if (isTopic(event, topic)) listener(event);
    };
    const set = this.#listeners.get(topic) ?? new Set();
    this.#listeners.set(topic, set.add(wrapped));
    return () => set.delete(wrapped);
  }

  /** A subscription stream: optional replay from a cursor, then live changes, through a bounded coalescing queue. */
  watch<T extends Topic>(watch: Watch<T>): CoalescingQueue<LiveItem<T>> {
    const after = watch.after == null ? null : parseCursor(watch.after);
    const key = `${watch.topic}|${watch.scope ?? '*'}`;
    const set = this.#subscribers.get(key) ?? new Set<Subscriber>();
    this.#subscribers.set(key, set);
    const limit = watch.queueLimit ?? this.queueLimit;
    const queue = new CoalescingQueue<LiveItem<T>>(
      limit,
      () => ({ failure: new SubscriberBehindError(limit) }),
      () => {
        set.delete(subscriber);
        if (set.size === 0) this.#subscribers.delete(key);
      },
    );
    const keep = watch.keep ?? (() => true);
    const subscriber: Subscriber = {
      wants: (message) => isMessageOf(message, watch.topic) && keep(message.payload),
      deliver(event) {
        // A cursor from a replica that has read further than this one: skip what it has seen.
        if (isTopic(event, watch.topic) && (after === null || event.seq > after) && keep(event.payload)) queue.push(entityKey(event), event);
      },
    };
    if (!watch.replayOnly) set.add(subscriber);
    if (after !== null) {
      queue.hold();
      void this.#replay(watch, after, this.lastSeq, queue);
    } else if (watch.replayOnly) queue.end();
    return queue;
  }

  async #replay<T extends Topic>(watch: Watch<T>, after: number, through: number, queue: CoalescingQueue<LiveItem<T>>) {
    try {
      const horizon = await changeLogHorizonSeq(this.db);
      if (after < horizon) throw new CursorExpiredError(`Cursor ${after} is older than the retained change log (it starts after ${horizon})`);
      if (after > through && after > (await changeLogHead(this.db))) throw new CursorExpiredError(`Cursor ${after} is ahead of this server's change log`);
      const changes = after < through ? await latestChangesPerEntity(this.db, watch.topic, after, through) : [];
      const scoped = changes.filter((change) => watch.scope === null || scopesOf(change.message).includes(watch.scope));
      const keep = watch.keep ?? (() => true);
      const replayed: [string, LiveItem<T>][] = [];
      for (const event of await loadEvents(this.db, scoped)) {
        if (isTopic(event, watch.topic) && keep(event.payload)) replayed.push([entityKey(event), event]);
      }
      queue.release(replayed);
      if (watch.replayOnly) queue.end();
    } catch (error) {
      if (error instanceof CursorExpiredError || error instanceof ValidationError) queue.abort({ failure: error });
      else queue.abort({ failure: new CursorExpiredError(`The change log could not be read (${error instanceof Error ? error.message : 'unknown error'})`) });
    }
  }
}
