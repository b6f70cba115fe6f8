// The agent's host work. Each job claims what it touches: the whole host (an inventory
// snapshot, rebinding drivers) or a set of resources (a VM and the devices it passes through).
// Jobs start in the order they were queued, except that one may start beside the running ones
// when nothing it claims is claimed by a job running or queued before it: provisioning eight
// VMs on one host runs eight libvirt calls at once, while two operations on one VM, or an
// inventory snapshot and anything else, never interleave. A snapshot taken while an operation
// runs could be reported after that operation's outcome and overrule it with a half-done picture.

export type Job = () => Promise<void>;

/** What a job touches: the whole host, or named resources (`vm:NAME`, `device:ADDRESS`). */
export type Claim = { exclusive: true } | { resources: readonly string[] };

export const WHOLE_HOST: Claim = { exclusive: true };

interface Entry {
  job: Job;
  key: string | undefined;
  claim: Claim;
}

export interface PushOptions {
  /** A job is dropped if one with the same key is waiting (not yet started). */
  key?: string;
  /** The whole host unless said otherwise. */
  claim?: Claim;
}

export class WorkQueue {
  readonly #waiting: Entry[] = [];
  readonly #running = new Set<Entry>();
  readonly #onError: (error: unknown) => void;
  readonly #maxRunning: number;
  #idleWaiters: (() => void)[] = [];
  #scheduled = false;
  #closed = false;

  /** `maxRunning`: how many jobs with resource claims may run at once. */
  constructor(onError: (error: unknown) => void = () => {}, options: { maxRunning?: number } = {}) {
    this.#onError = onError;
    this.#maxRunning = Math.max(1, options.maxRunning ?? 1);
  }

  /**
   * Queues a job. With a key, a job is dropped if one with the same key is waiting: three
   * triggers for an inventory report before it runs still make one report. Returns whether
   * the job was queued.
   */
  push(job: Job, options: PushOptions = {}): boolean {
    const { key, claim = WHOLE_HOST } = options;
    if (this.#closed) return false;
    if (key !== undefined && this.#waiting.some((entry) => entry.key === key)) return false;
    this.#waiting.push({ job, key, claim });
    this.#schedule();
    return true;
  }

  /** Jobs waiting to start. */
  get waiting(): number {
    return this.#waiting.length;
  }

  /** Jobs running now. */
  get running(): number {
    return this.#running.size;
  }

  get busy(): boolean {
    return this.#running.size > 0;
  }

  /** Resolves when nothing is running or waiting. */
  idle(): Promise<void> {
    if (this.#running.size === 0 && this.#waiting.length === 0) return Promise.resolve();
    return new Promise((resolve) => this.#idleWaiters.push(resolve));
  }

  /** Refuses new jobs and drops the waiting ones; the running ones finish. Returns how many were dropped. */
  close(): number {
    this.#closed = true;
    const dropped = this.#waiting.splice(0).length;
    this.#settleIfIdle();
    return dropped;
  }

  #schedule() {
    if (this.#scheduled) return;
    this.#scheduled = true;
    // Start on a later tick, so jobs pushed in the same tick are all visible to de-duplication.
    queueMicrotask(() => {
      this.#scheduled = false;
      this.#startWhatMay();
    });
  }

  #startWhatMay() {
    if ([...this.#running].some((entry) => 'exclusive' in entry.claim)) return;
    const claimed = new Set<string>();
    for (const entry of this.#running) if ('resources' in entry.claim) for (const resource of entry.claim.resources) claimed.add(resource);
    for (let index = 0; index < this.#waiting.length && this.#running.size < this.#maxRunning; ) {
      const entry = this.#waiting[index]!;
      if ('exclusive' in entry.claim) {
        // It waits for everything running, and everything queued after it waits for it.
        if (index === 0 && this.#running.size === 0) this.#start(index);
        return;
      }
      const { resources } = entry.claim;
      const free = resources.every((resource) => !claimed.has(resource));
      // Claimed either way: a later job on the same resources stays behind this one.
      for (const resource of resources) claimed.add(resource);
      if (free) this.#start(index);
      else index++;
    }
  }

  #start(index: number) {
    const [entry] = this.#waiting.splice(index, 1);
    if (!entry) return;
    this.#running.add(entry);
    void this.#run(entry);
  }

  async #run(entry: Entry) {
    try {
      await entry.job();
    } catch (error) {
      this.#onError(error);
    } finally {
      this.#running.delete(entry);
      this.#startWhatMay();
      this.#settleIfIdle();
    }
  }

  #settleIfIdle() {
    if (this.#running.size > 0 || this.#waiting.length > 0) return;
    for (const resolve of this.#idleWaiters.splice(0)) resolve();
  }
}
