import type { ExecutionResult } from 'graphql';
import { WebSocket } from 'ws';
import { SubscriberBehindError } from '../domain/errors.ts';
import type { Topic } from '../pubsub.ts';
import { CoalescingQueue } from './coalescing-queue.ts';
import { entityKey } from './events.ts';
import type { LiveItem, LiveSource, Watch } from './hub.ts';

type Outcome = AsyncIterable<ExecutionResult> | ExecutionResult;

/** One graphql-ws subscriber of a shared execution. */
export interface Seat {
  socket: WebSocket;
  /** The graphql-ws subscription ID its frames carry. */
  id: string;
}

function isStream(outcome: Outcome): outcome is AsyncIterable<ExecutionResult> {
  return Symbol.asyncIterator in outcome;
}

/**
 * A subscriber's frames: the shared payloads, queued per entity so a slow socket gets the
 * latest state of each once, sent one at a time as the socket takes them.
 */
class Member {
  readonly queue: CoalescingQueue<string>;
  readonly done: Promise<void>;

  constructor(
    private readonly seat: Seat,
    limit: number,
  ) {
    const behind = new SubscriberBehindError(limit);
    this.queue = new CoalescingQueue<string>(limit, () =>
      JSON.stringify({ data: null, errors: [{ message: behind.message, extensions: { code: behind.constructor.name } }] }),
    );
    this.done = this.#pump();
  }

  async #pump() {
    const prefix = `{"id":${JSON.stringify(this.seat.id)},"type":"next","payload":`;
    for await (const payload of this.queue) {
      if (this.seat.socket.readyState !== WebSocket.OPEN) break;
      await new Promise<void>((resolve) => this.seat.socket.send(`${prefix}${payload}}`, () => resolve()));
    }
  }
}

/**
 * Subscribers whose document, variables and role are the same share one execution: each
 * change is executed and serialized once per group, whatever the number of its subscribers
 * (Hasura's multiplexed live queries are the model). Frames go straight onto each socket in
 * the graphql-ws `next` format; graphql-ws still owns the subscription's start and `complete`.
 */
class SharedExecution {
  readonly members = new Set<Member>();
  /** Set once its stream has ended: late joiners start a new execution. */
  closed = false;
  /** The entity of the source item whose result is being executed (null for a stream's last, failing item). */
  #current: string | null = null;
  #iterator: AsyncIterator<ExecutionResult> | null = null;

  constructor(private readonly onEmpty: () => void) {}

  /** The hub as the shared execution's subscription fields see it, noting each item they take. */
  tap(hub: LiveSource): LiveSource {
    return {
      watch: <T extends Topic>(watch: Watch<T>) => {
        const stream = hub.watch(watch);
        const tapped: AsyncIterableIterator<LiveItem<T>> = {
          next: async () => {
            const result = await stream.next();
            if (!result.done) this.#current = 'failure' in result.value ? null : entityKey(result.value);
            return result;
          },
          return: async () => (await stream.return?.()) ?? { done: true, value: undefined },
          [Symbol.asyncIterator]: () => tapped,
        };
        return tapped;
      },
    };
  }

  async run(stream: AsyncIterable<ExecutionResult>) {
    this.#iterator = stream[Symbol.asyncIterator]();
    try {
      for (;;) {
        const result = await this.#iterator.next();
        if (result.done) break;
        const key = this.#current;
        const payload = JSON.stringify(result.value);
        for (const member of this.members) {
          if (key === null) member.queue.end(payload);
          else member.queue.push(key, payload);
        }
      }
    } finally {
      this.closed = true;
      this.onEmpty();
      for (const member of this.members) member.queue.end();
    }
  }

  leave(member: Member) {
    this.members.delete(member);
    void member.queue.return();
    if (this.members.size === 0) {
      this.onEmpty();
      void this.#iterator?.return?.();
    }
  }
}

export class SubscriptionMultiplexer {
  #groups = new Map<string, { shared: SharedExecution; ready: Promise<Outcome> }>();

  constructor(
    private readonly hub: LiveSource,
    private readonly queueLimit: number,
  ) {}

  get groupCount() {
    return this.#groups.size;
  }

  /**
   * Joins the shared execution for `key`, starting it with `start` (given the tapped hub for
   * its context) if there is none. Returns what graphql-ws iterates: it ends when the member does.
   */
  async join(key: string, seat: Seat, start: (live: LiveSource) => Promise<Outcome>): Promise<Outcome> {
    let group = this.#groups.get(key);
    if (!group) {
      const forget = () => {
        if (this.#groups.get(key)?.shared === shared) this.#groups.delete(key);
      };
      const shared = new SharedExecution(forget);
      const ready = start(shared.tap(this.hub));
      group = { shared, ready };
      this.#groups.set(key, group);
      void ready.then((outcome) => (isStream(outcome) ? shared.run(outcome) : forget()), forget);
    }
    const outcome = await group.ready;
    if (!isStream(outcome)) return outcome;
    if (group.shared.closed) return this.join(key, seat, start);
    const member = new Member(seat, this.queueLimit);
    group.shared.members.add(member);
    const { shared } = group;
    const ended: AsyncIterableIterator<ExecutionResult> = {
      next: async () => {
        await member.done;
        shared.leave(member);
        return { done: true, value: undefined };
      },
      return: async () => {
        shared.leave(member);
        return { done: true, value: undefined };
      },
      throw: async (error: unknown) => {
        shared.leave(member);
        throw error;
      },
      [Symbol.asyncIterator]: () => ended,
    };
    return ended;
  }
}
