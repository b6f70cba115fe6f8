// The agent's one lane of host work. Operations and inventory snapshots run one at a time:
// rebinding drivers and editing libvirt domains on one host do not interleave safely, and an
// inventory snapshot taken while an operation runs could be reported after that operation's
// outcome and overrule it with a half-done picture.

export type Job = () => Promise<void>;

interface Entry {
  job: Job;
  key: string | undefined;
}

export class WorkQueue {
  readonly #entries: Entry[] = [];
  readonly #onError: (error: unknown) => void;
  #running: Promise<void> | null = null;
  #closed = false;

  constructor(onError: (error: unknown) => void = () => {}) {
    this.#onError = onError;
  }

  /**
   * Queues a job. With a key, a job is dropped if one with the same key is waiting (not yet
   * started): three triggers for an inventory report before it runs still make one report.
   * Returns whether the job was queued.
   */
  push(job: Job, key?: string): boolean {
    if (this.#closed) return false;
    if (key !== undefined && this.#entries.some((entry) => entry.key === key)) return false;
    this.#entries.push({ job, key });
    this.#running ??= this.#drain();
    return true;
  }

  /** Jobs waiting to start. */
  get waiting(): number {
    return this.#entries.length;
  }

  get busy(): boolean {
    return this.#running !== null;
  }

  /** Resolves when nothing is running or waiting. */
  idle(): Promise<void> {
    return this.#running ?? Promise.resolve();
  }

  /** Refuses new jobs and drops the waiting ones; the running one finishes. Returns how many were dropped. */
  close(): number {
    this.#closed = true;
    return this.#entries.splice(0).length;
  }

  async #drain(): Promise<void> {
    // Start on a later tick, so jobs pushed in the same tick are all visible to de-duplication.
    await Promise.resolve();
    try {
      for (let entry = this.#entries.shift(); entry; entry = this.#entries.shift()) {
        try {
          await entry.job();
        } catch (error) {
          this.#onError(error);
        }
      }
    } finally {
      this.#running = null;
    }
  }
}
