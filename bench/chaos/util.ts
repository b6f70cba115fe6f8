// Small helpers shared by the chaos suite: a seeded generator, global IDs, and one GraphQL
// request over plain HTTP that never throws (a transport failure is an outcome to record).

import { setTimeout as sleepMs } from 'node:timers/promises';

export const sleep = (ms: number) => sleepMs(ms);

/** mulberry32: a run with the same seed makes the same choices (timing aside). */
export class Random {
  #state: number;
  constructor(seed: number) {
    this.#state = seed >>> 0;
  }
  next(): number {
    this.#state = (this.#state + 0x6d2b79f5) >>> 0;
    let t = this.#state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }
  int(min: number, max: number): number {
    return min + Math.floor(this.next() * (max - min + 1));
  }
  pick<T>(items: readonly T[]): T | undefined {
    return items.length ? items[Math.floor(this.next() * items.length)] : undefined;
  }
  uuid(): string {
    const hex = Array.from({ length: 32 }, () => Math.floor(this.next() * 16).toString(16)).join('');
    return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-4${hex.slice(13, 16)}-8${hex.slice(17, 20)}-${hex.slice(20, 32)}`;
  }
  shuffle<T>(items: readonly T[]): T[] {
    const out = [...items];
    for (let i = out.length - 1; i > 0; i--) {
      const j = Math.floor(this.next() * (i + 1));
      [out[i], out[j]] = [out[j]!, out[i]!];
    }
    return out;
  }
}

/** Relay global IDs are base64 of `Type:uuid`. */
export const globalId = (type: string, id: string) => Buffer.from(`${type}:${id}`).toString('base64');

/** The database ID inside a global ID, or null when it is not one. */
export function localId(global: string | null | undefined): string | null {
  if (!global) return null;
  const decoded = Buffer.from(global, 'base64').toString();
  const colon = decoded.indexOf(':');
  return colon > 0 ? decoded.slice(colon + 1) : null;
}

export interface GraphQLAnswer {
  /** HTTP status, 0 when the request never got an answer. */
  status: number;
  data?: any;
  errors?: { message: string; extensions?: Record<string, unknown> }[];
  /** Why there was no answer: connection refused, reset, timeout. */
  transportError?: string;
}

export async function graphql(
  url: string,
  credentials: { token?: string; cookie?: string },
  query: string,
  variables: Record<string, unknown> = {},
  timeoutMs = 10_000,
): Promise<GraphQLAnswer & { setCookie?: string | null }> {
  try {
    const response = await fetch(`${url}/graphql`, {
      method: 'POST',
      headers: {
        'content-type': 'application/json',
        ...(credentials.token ? { authorization: `Bearer ${credentials.token}` } : {}),
        ...(credentials.cookie ? { cookie: credentials.cookie } : {}),
      },
      body: JSON.stringify({ query, variables }),
      signal: AbortSignal.timeout(timeoutMs),
    });
    const text = await response.text();
    let body: { data?: unknown; errors?: GraphQLAnswer['errors'] };
    try {
      body = JSON.parse(text);
    } catch {
      return { status: response.status, transportError: `not JSON: ${text.slice(0, 200)}` };
    }
    return { status: response.status, data: body.data, ...(body.errors ? { errors: body.errors } : {}), setCookie: response.headers.get('set-cookie') };
  } catch (error) {
    const cause = (error as { cause?: { code?: string } }).cause?.code;
    return { status: 0, transportError: `${(error as Error).name}: ${(error as Error).message}${cause ? ` (${cause})` : ''}` };
  }
}

/** Polls `check` until it returns a truthy value or `timeoutMs` passes (then returns null). */
export async function poll<T>(check: () => Promise<T | null | undefined | false>, timeoutMs: number, stepMs = 250): Promise<T | null> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value) return value;
    if (Date.now() > deadline) return null;
    await sleep(stepMs);
  }
}
