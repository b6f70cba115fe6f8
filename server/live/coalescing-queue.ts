/**
 * A subscriber's bounded queue. A newer item for a key replaces the undelivered older one and
 * moves to the back, so a subscriber that drains slowly gets each entity's latest state once,
 * in sequence order. Past `limit` undelivered keys the queue gives up: it drops what it holds
 * and ends with `overflow()`'s item, so the subscriber is told instead of silently starved.
 */
export class CoalescingQueue<T> implements AsyncIterableIterator<T> {
  #pending = new Map<string, T>();
  #waiter: ((result: IteratorResult<T>) => void) | null = null;
  /** Delivered after everything pending, then the queue is done. */
  #last: { item: T | null } | null = null;
  #closed = false;
  #held = false;

  constructor(
    private readonly limit: number,
    private readonly overflow: () => T,
    private readonly onClose: () => void = () => {},
  ) {}

  get size() {
    return this.#pending.size;
  }

  push(key: string, item: T) {
    if (this.#closed || this.#last) return;
    this.#pending.delete(key);
    this.#pending.set(key, item);
    if (this.#pending.size > this.limit) {
      this.#pending.clear();
      this.end(this.overflow());
      return;
    }
    this.#wake();
  }

  /** Stops taking items; `final` (if any) goes out after what is pending, then the queue is done. */
  end(final: T | null = null) {
    if (this.#last) return;
    this.#last = { item: final };
    this.#held = false;
    this.#wake();
  }

  /** Drops what is pending and ends with `final`. */
  abort(final: T) {
    this.#pending.clear();
    this.end(final);
  }

  /** Holds delivery (items still queue and coalesce) until `release`. */
  hold() {
    this.#held = true;
  }

  /**
   * Delivers `first` ahead of what queued meanwhile. Where both hold a key, the queued item is
   * kept if `keepQueued` says it is the newer (by default it always is), else dropped.
   */
  release(first: Iterable<[string, T]>, keepQueued: (queued: T, first: T) => boolean = () => true) {
    const merged = new Map<string, T>();
    const firsts = new Map(first);
    for (const [key, item] of firsts) {
      const queued = this.#pending.get(key);
      if (queued === undefined || !keepQueued(queued, item)) merged.set(key, item);
    }
    for (const [key, item] of this.#pending) {
      const replaced = firsts.get(key);
      if (replaced === undefined || keepQueued(item, replaced)) merged.set(key, item);
    }
    this.#pending = merged;
    this.#held = false;
    this.#wake();
  }

  #take(): IteratorResult<T> | null {
    if (this.#closed) return { done: true, value: undefined };
    if (this.#held) return null;
    const first = this.#pending.entries().next();
    if (!first.done) {
      this.#pending.delete(first.value[0]);
      return { done: false, value: first.value[1] };
    }
    if (this.#last) {
      const { item } = this.#last;
      this.#last = { item: null };
      if (item !== null) return { done: false, value: item };
      void this.return();
      return { done: true, value: undefined };
    }
    return null;
  }

  #wake() {
    if (!this.#waiter) return;
    const result = this.#take();
    if (!result) return;
    const waiter = this.#waiter;
    this.#waiter = null;
    waiter(result);
  }

  next(): Promise<IteratorResult<T>> {
    const result = this.#take();
    if (result) return Promise.resolve(result);
    return new Promise((resolve) => {
      this.#waiter = resolve;
    });
  }

  async return(): Promise<IteratorResult<T>> {
    if (!this.#closed) {
      this.#closed = true;
      this.#pending.clear();
      this.onClose();
      const waiter = this.#waiter;
      this.#waiter = null;
      waiter?.({ done: true, value: undefined });
    }
    return { done: true, value: undefined };
  }

  [Symbol.asyncIterator]() {
    return this;
  }
}
