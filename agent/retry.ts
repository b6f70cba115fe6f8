// Waiting, bounded: between attempts (exponential backoff with jitter, so a fleet of agents that
// lost the server at the same moment does not come back at the same moment) and for a promise.

import { setTimeout as sleep } from 'node:timers/promises';

export interface BackoffOptions {
  /** The first wait, in ms. */
  baseMs: number;
  /** No wait is longer than this. */
  maxMs: number;
}

export const DEFAULT_BACKOFF: BackoffOptions = { baseMs: 500, maxMs: 30_000 };

/**
 * The wait before retry number `attempt` (0-based): "equal jitter" — half the exponential
 * ceiling fixed, half random — so waits grow steadily yet agents spread out.
 */
export function backoffDelay(attempt: number, options: BackoffOptions = DEFAULT_BACKOFF, random: () => number = Math.random): number {
  const ceiling = Math.min(options.maxMs, options.baseMs * 2 ** Math.min(attempt, 30));
  return Math.round(ceiling / 2 + (random() * ceiling) / 2);
}

/** Sleeps `ms`; resolves early (false) when `signal` aborts, true otherwise. Never rejects. */
export async function pause(ms: number, signal?: AbortSignal): Promise<boolean> {
  if (signal?.aborted) return false;
  try {
    await sleep(ms, undefined, { signal });
    return true;
  } catch {
    return false;
  }
}

export type Attempt<T> = { done: true; value: T } | { done: false; error: unknown };

/**
 * Runs `attempt` until it reports done, waiting a backoff delay between tries. Returns the
 * value, or null once `signal` aborts (the caller is shutting down and gives up).
 */
export async function retryUntilDone<T>(
  attempt: (tryNumber: number) => Promise<Attempt<T>>,
  options: { backoff?: BackoffOptions; signal?: AbortSignal; onRetry?: (error: unknown, tryNumber: number, delayMs: number) => void; random?: () => number } = {},
): Promise<T | null> {
  for (let tryNumber = 0; ; tryNumber++) {
    if (options.signal?.aborted) return null;
    const result = await attempt(tryNumber);
    if (result.done) return result.value;
    const delay = backoffDelay(tryNumber, options.backoff, options.random);
    options.onRetry?.(result.error, tryNumber, delay);
    if (!(await pause(delay, options.signal))) return null;
  }
}

/** Waits for `promise` at most `ms`: whether it settled in time. */
export async function settleWithin(promise: Promise<unknown>, ms: number): Promise<boolean> {
  const timeout = new AbortController();
  try {
    return await Promise.race([promise.then(() => true), pause(ms, timeout.signal).then(() => false)]);
  } finally {
    timeout.abort();
  }
}
