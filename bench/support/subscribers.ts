// Real graphql-ws subscribers, one WebSocket each, recording what they receive and when.
// The same client code subscribes to Passthru and to the floor server, so the client-side
// cost is the same on both sides of the comparison.
import { createClient, type Client } from 'graphql-ws';
import WebSocket from 'ws';
import { now, sleep } from './stats.ts';

/** productName of a benchmark change: carries the change's sequence number. */
export const BENCH_NAME = /^bench (\d+)$/;

export interface DeviceEvent {
  cursor?: string | null;
  device?: { id: string; productName: string | null } | null;
  /** The pre-cursor shape: the device itself. */
  id?: string;
  productName?: string | null;
}

export class Subscriber {
  /** Sequence numbers received (bench changes only), in arrival order, with arrival times and cursors. */
  readonly seqs: number[] = [];
  readonly times: number[] = [];
  readonly cursors: (string | null)[] = [];
  readonly errors: string[] = [];
  ended = false;
  connected = false;
  client: Client | null = null;

  constructor(
    readonly index: number,
    /** null: every host's devices. */
    readonly hostId: string | null,
  ) {}

  receive(event: DeviceEvent | null | undefined) {
    const at = now();
    const name = event?.device ? event.device.productName : event?.productName;
    const match = name ? BENCH_NAME.exec(name) : null;
    if (!match) return;
    this.seqs.push(Number(match[1]));
    this.times.push(at);
    this.cursors.push(event?.cursor ?? null);
  }
}

export interface SubscriberOptions {
  /** Base URLs (http://host:port); subscriber i connects to urls[i % urls.length]. */
  urls: string[];
  token: string | null;
  query: string;
  /** Host filter of subscriber i, or null for none. */
  hostFor: (index: number) => string | null;
  count: number;
  /** Sockets opened at once while connecting. */
  batch?: number;
}

function errorText(error: unknown): string {
  if (Array.isArray(error)) return error.map(errorText).join('; ');
  if (error instanceof Error) return error.message;
  if (error && typeof error === 'object') {
    // A GraphQL error's code says which error it is (SubscriberBehindError, CursorExpiredError).
    if ('extensions' in error && error.extensions && typeof error.extensions === 'object' && 'code' in error.extensions) return String(error.extensions.code);
    if ('message' in error && typeof error.message === 'string') return error.message;
    if ('code' in error) return `closed ${String(error.code)} ${'reason' in error ? String(error.reason) : ''}`.trim();
  }
  return String(error);
}

/** Opens `count` sockets, each with one deviceChanged subscription, `batch` at a time. */
export async function connectSubscribers(options: SubscriberOptions): Promise<Subscriber[]> {
  const subscribers: Subscriber[] = [];
  const batch = options.batch ?? 100;
  for (let start = 0; start < options.count; start += batch) {
    const opening: Promise<void>[] = [];
    for (let index = start; index < Math.min(options.count, start + batch); index++) {
      const subscriber = new Subscriber(index, options.hostFor(index));
      subscribers.push(subscriber);
      const base = options.urls[index % options.urls.length]!;
      opening.push(
        new Promise<void>((resolve) => {
          const client = createClient({
            url: `${base.replace(/^http/, 'ws')}/graphql`,
            webSocketImpl: WebSocket,
            lazy: true,
            retryAttempts: 0,
            connectionAckWaitTimeout: 60_000,
            connectionParams: options.token ? { authorization: `Bearer ${options.token}` } : {},
            on: {
              connected: () => {
                subscriber.connected = true;
                resolve();
              },
              closed: (event) => {
                subscriber.connected = false;
                resolve();
                if (!subscriber.ended) subscriber.errors.push(errorText(event));
              },
            },
          });
          subscriber.client = client;
          client.subscribe<{ deviceChanged: DeviceEvent }>(
            { query: options.query, variables: subscriber.hostId ? { hostId: subscriber.hostId } : {} },
            {
              next: (result) => {
                if (result.errors?.length) subscriber.errors.push(errorText(result.errors));
                subscriber.receive(result.data?.deviceChanged);
              },
              error: (error) => {
                subscriber.errors.push(errorText(error));
                subscriber.ended = true;
              },
              complete: () => {
                subscriber.ended = true;
              },
            },
          );
        }),
      );
    }
    await Promise.all(opening);
  }
  return subscribers;
}

export async function closeSubscribers(subscribers: Subscriber[]) {
  for (const subscriber of subscribers) subscriber.ended = true;
  for (let start = 0; start < subscribers.length; start += 500) {
    await Promise.all(subscribers.slice(start, start + 500).map((s) => s.client?.dispose()));
    await sleep(10);
  }
}
