import type { Database } from '../db/client.ts';
import type { Logger } from '../logger.ts';
import { changeLogHead, changesAfter, type LoggedChange } from './change-log.ts';
import { loadEvents, type AnyLiveEvent } from './events.ts';
import type { LiveHub } from './hub.ts';

/** Changes read from the log per statement; a longer backlog is read in several batches. */
const BATCH = 500;

/**
 * Reads the change log into this process's hub. NOTIFY only says "there is news"; the feed
 * reads everything after the last sequence it has seen, so a change committed while LISTEN
 * was down (a database restart, a network blip) is read when LISTEN comes back, or at the
 * next poll, whichever is first. Wake-ups that arrive during a read coalesce into one more read.
 */
export class ChangeFeed {
  #reading: Promise<void> | null = null;
  #again = false;
  #poll: NodeJS.Timeout | undefined;
  #unlisten: (() => Promise<void>) | null = null;
  #failing = false;

  constructor(
    private readonly database: Database,
    private readonly hub: LiveHub,
    private readonly logger: Logger,
    private readonly pollMs: number,
    /** Told each change's commit time as it is handed to this process's subscribers (the metrics). */
    private readonly onDelivered: (committedAt: Date) => void = () => {},
  ) {}

  /** Starts at the head of the log: a new process announces only what commits from now on. */
  async start() {
    this.hub.lastSeq = await changeLogHead(this.database.feedDb);
    this.#unlisten = await this.database.listen(
      () => this.wake(),
      () => this.wake(),
    );
    this.#poll = setInterval(() => this.wake(), this.pollMs);
  }

  /** The last read of the change log succeeded: subscribers are being fed. */
  get caughtUp(): boolean {
    return !this.#failing;
  }

  async stop() {
    clearInterval(this.#poll);
    await this.#unlisten?.();
    await this.#reading;
  }

  /** Reads what is new now, or once more after the read under way. */
  wake() {
    if (this.#reading) {
      this.#again = true;
      return;
    }
    this.#reading = this.#drain().finally(() => {
      this.#reading = null;
    });
  }

  /**
   * The rows of the changes someone here will receive. Asked again once they are loaded: a
   * subscriber that arrived meanwhile, resuming from a cursor before this batch, gets its
   * changes too (the batch is past what its replay reads).
   */
  async #loadWanted(changes: readonly LoggedChange[]): Promise<AnyLiveEvent[]> {
    const wanted = changes.filter((change) => this.hub.wants(change.message));
    const events = await loadEvents(this.database.feedDb, wanted);
    const late = changes.filter((change) => !wanted.includes(change) && this.hub.wants(change.message));
    if (late.length === 0) return events;
    return [...events, ...(await loadEvents(this.database.feedDb, late))].sort((a, b) => a.seq - b.seq);
  }

  async #drain() {
    do {
      this.#again = false;
      try {
        const changes = await changesAfter(this.database.feedDb, this.hub.lastSeq, BATCH);
        const last = changes.at(-1);
        if (last) {
          this.hub.publish(await this.#loadWanted(changes), last.seq);
          for (const change of changes) this.onDelivered(change.at);
          if (changes.length === BATCH) this.#again = true;
        }
        if (this.#failing) this.logger.info('change log readable again; caught up');
        this.#failing = false;
      } catch (error) {
        // The database is away; the next wake-up (LISTEN coming back, or the poll) retries from the same sequence.
        if (!this.#failing) this.logger.warn({ err: error }, 'change log unreadable; retrying');
        this.#failing = true;
        return;
      }
    } while (this.#again);
  }
}
