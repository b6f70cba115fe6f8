/** Places held under each key (a credential, a client address), at most `limit` a key. */
export class Quota {
  readonly #held = new Map<string, number>();

  constructor(readonly limit: number) {}

  /** Takes a place under `key`; false when its places are all taken. */
  take(key: string): boolean {
    const held = this.#held.get(key) ?? 0;
    if (held >= this.limit) return false;
    this.#held.set(key, held + 1);
    return true;
  }

  release(key: string) {
    const left = (this.#held.get(key) ?? 1) - 1;
    if (left > 0) this.#held.set(key, left);
    else this.#held.delete(key);
  }
}
