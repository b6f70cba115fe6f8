// The faults a simulated host has in store: which backend call fails or kills the agent next.

import { parseFault, type ParsedSimFault, type SimOperation } from './config.ts';

/** mulberry32: a tiny seeded generator, so probabilistic faults repeat run after run. */
function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export class FaultPlan {
  readonly #random: () => number;
  #faults: ParsedSimFault[];

  constructor(faults: readonly ParsedSimFault[], seed: number) {
    this.#faults = faults.map((fault) => ({ ...fault }));
    this.#random = seededRandom(seed);
  }

  /** Adds a fault, checked as the config's are; `path` names it in an error. */
  add(fault: unknown, path = 'fault'): void {
    this.#faults.push(parseFault(path, fault));
  }

  clear(): void {
    this.#faults = [];
  }

  /** The fault that hits this call of `operation`, if any; a counted fault is used up. */
  take(operation: SimOperation): ParsedSimFault | null {
    for (const fault of this.#faults) {
      if (fault.operation !== operation) continue;
      if (fault.probability !== undefined) {
        if (this.#random() < fault.probability) return fault;
        continue;
      }
      if (fault.times > 0) {
        fault.times -= 1;
        if (fault.times === 0) this.#faults = this.#faults.filter((f) => f !== fault);
        return fault;
      }
    }
    return null;
  }
}
