import type { ExecutionResult } from 'graphql';
import { WebSocket } from 'ws';
import { SubscriberBehindError } from '../domain/errors.ts';
import { CoalescingQueue } from './coalescing-queue.ts';
import type { LiveSource } from './hub.ts';
import { Tap } from './tap.ts';

type Outcome = AsyncIterable<ExecutionResult> | ExecutionResult;

/** One graphql-ws subscriber of a shared execution. */
export interface Seat {
  socket: WebSocket;
  /** The graphql-ws subscription ID its frames carry. */
  id: string;
}

/** A subscriber resuming from a cursor: its own replay runs first, then it takes the shared frames. */
export interface Resume {
  after: number;
  /** Starts the replay-only execution, given the tap its context must watch through. */
  replay: (live: LiveSource) => Promise<Outcome>;
}

/** A serialized result and the change it is about. */
interface Frame {
  seq: number;
  payload: string;
}

function isStream(outcome: Outcome): outcome is AsyncIterable<ExecutionResult> {
  return Symbol.asyncIterator in outcome;
}

/**
 * A subscriber's frames: the shared payloads, queued per entity so a slow socket gets the
 * latest state of each once, sent one at a time as the socket takes them.
 */
class Member {
  readonly queue: CoalescingQueue<Frame>;
  readonly done: Promise<void>;

  constructor(
    private readonly seat: Seat,
    limit: number,
  ) {
    const behind = new SubscriberBehindError(limit);
    this.queue = new CoalescingQueue<Frame>(limit, () => ({
      seq: 0,
      payload: JSON.stringify({ data: null, errors: [{ message: behind.message, extensions: { code: behind.constructor.name } }] }),
    }));
    this.done = this.#pump();
  }

  async #pump() {
    const prefix = `{"id":${JSON.stringify(this.seat.id)},"type":"next","payload":`;
    for await (const frame of this.queue) {
      if (this.seat.socket.readyState !== WebSocket.OPEN) break;
      await new Promise<void>((resolve) => this.seat.socket.send(`${prefix}${frame.payload}}`, () => resolve()));
    }
  }

  /**
   * Runs the member's replay while shared frames queue behind it, then delivers the replay
   * first. A shared frame of an entity the replay also covers is kept only if it is newer.
   */
  async resume(resume: Resume, hub: LiveSource) {
    this.queue.hold();
    const tap = new Tap(hub, (watch) => ({ ...watch, replayOnly: true }));
    const replayed: [string, Frame][] = [];
    const outcome = await resume.replay(tap.source);
    if (!isStream(outcome)) {
      this.queue.abort({ seq: 0, payload: JSON.stringify(outcome) });
      return;
    }
    for await (const result of outcome) {
      const item = tap.current;
      const payload = JSON.stringify(result);
      if (item === null) {
        this.queue.abort({ seq: 0, payload });
        return;
      }
      replayed.push([item.key, { seq: item.seq, payload }]);
    }
    // A cursor from a replica that has read further than this one: it has seen those frames.
    this.queue.release(replayed, (queued, replay) => queued.seq > Math.max(replay.seq, resume.after));
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
  readonly tap: Tap;
  #iterator: AsyncIterator<ExecutionResult> | null = null;

  constructor(
    hub: LiveSource,
    private readonly onEmpty: () => void,
  ) {
    // Its queue only coalesces, so it is bounded by the number of entities; its members' queues hold the limit.
    this.tap = new Tap(hub, (watch) => ({ ...watch, queueLimit: Number.POSITIVE_INFINITY }));
  }

  async run(stream: AsyncIterable<ExecutionResult>) {
    this.#iterator = stream[Symbol.asyncIterator]();
    try {
      for (;;) {
        const result = await this.#iterator.next();
        if (result.done) break;
        const item = this.tap.current;
        const payload = JSON.stringify(result.value);
        for (const member of this.members) {
          if (item === null) member.queue.end({ seq: 0, payload });
          else member.queue.push(item.key, { seq: item.seq, payload });
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

  /**
   * Joins the shared execution for `key`, starting it with `start` (given the tapped hub for
   * its context) if there is none; a resuming member replays on its own first. Returns what
   * graphql-ws iterates: it ends when the member does.
   */
  async join(key: string, seat: Seat, start: (live: LiveSource) => Promise<Outcome>, resume: Resume | null = null): Promise<Outcome> {
    let group = this.#groups.get(key);
    if (!group) {
      const forget = () => {
        if (this.#groups.get(key)?.shared === shared) this.#groups.delete(key);
      };
      const shared = new SharedExecution(this.hub, forget);
      const ready = start(shared.tap.source);
      group = { shared, ready };
      this.#groups.set(key, group);
      void ready.then((outcome) => (isStream(outcome) ? shared.run(outcome) : forget()), forget);
    }
    const outcome = await group.ready;
    if (!isStream(outcome)) return outcome;
    if (group.shared.closed) return this.join(key, seat, start, resume);
    const member = new Member(seat, this.queueLimit);
    group.shared.members.add(member);
    if (resume) void member.resume(resume, this.hub);
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
