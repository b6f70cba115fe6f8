import { Client, fetchExchange, subscriptionExchange } from '@urql/core';
import { CloseCode, createClient as createWsClient, type Client as WsClient } from 'graphql-ws';
import introspection from 'virtual:schema-introspection';
import { connection } from './connection.svelte.ts';
import { normalizedCache } from './cache.ts';
import { resumable } from './resume.ts';
import { rereadLists } from './reread.ts';

/** Waits 0.5 s, 1 s, 2 s, 4 s, then 5 s between reconnects, with jitter so a fleet of consoles does not stampede a restarted server. */
export function backoffMs(retries: number): number {
  const base = Math.min(500 * 2 ** retries, 5_000);
  return base / 2 + Math.random() * (base / 2);
}

function wsUrl(): string {
  const { protocol, host } = window.location;
  return `${protocol === 'https:' ? 'wss' : 'ws'}://${host}/graphql`;
}

/** The server closes a socket with these when its credential is missing, revoked or expired. */
const AUTH_CLOSE_CODES = new Set<number>([CloseCode.Unauthorized, CloseCode.Forbidden]);

function closeCode(event: unknown): number | null {
  return event && typeof event === 'object' && 'code' in event && typeof event.code === 'number' ? event.code : null;
}

let onCredentialLost: (reason: string) => void = () => {};

/** Who to tell when the server ends the socket because the session is no longer valid. */
export function whenCredentialLost(callback: (reason: string) => void) {
  onCredentialLost = callback;
}

export interface Api {
  client: Client;
  /** Closes the realtime socket for good (sign-out, or another user signs in). */
  dispose(): void;
}

/**
 * One urql client per signed-in session: queries and mutations over HTTP, subscriptions over
 * graphql-ws on the same /graphql path, all through one normalized cache (cache.ts), so an event
 * updates every page showing what it names. The session cookie rides on both (same origin). The
 * socket opens with the first subscription and is retried forever with backoff, except when the
 * server says the credential is gone; subscriptions resume from their last cursor (resume.ts). The
 * Connection state drives the header badge.
 */
export function createApi(): Api {
  let ws: WsClient | null = null;
  const socket = () => {
    ws ??= createWsClient({
      url: wsUrl(),
      lazy: false,
      keepAlive: 10_000,
      retryAttempts: Number.POSITIVE_INFINITY,
      shouldRetry: (event) => !AUTH_CLOSE_CODES.has(closeCode(event) ?? 0),
      retryWait: (retries) => new Promise((resolve) => setTimeout(resolve, backoffMs(retries))),
      on: {
        connecting: () => connection.connecting(),
        connected: () => connection.connected(),
        closed: (event) => {
          connection.lost();
          const code = closeCode(event);
          if (code !== null && AUTH_CLOSE_CODES.has(code)) {
            const reason = event && typeof event === 'object' && 'reason' in event ? String(event.reason) : '';
            onCredentialLost(reason || 'Your session has ended.');
          }
        },
      },
    });
    return ws;
  };
  const client = new Client({
    url: '/graphql',
    requestPolicy: 'cache-and-network',
    // Always POST with a JSON body and yoga's CSRF header: never a "simple" cross-site request,
    // so CSRF prevention on the server accepts the console's requests.
    preferGetMethod: false,
    fetchOptions: { headers: { 'x-graphql-yoga-csrf': 'passthru-console' }, credentials: 'same-origin' },
    exchanges: [
      normalizedCache(introspection),
      fetchExchange,
      subscriptionExchange({ forwardSubscription: resumable((payload, sink) => socket().subscribe(payload, sink), rereadLists) }),
    ],
  });
  return {
    client,
    dispose() {
      void ws?.dispose();
      ws = null;
    },
  };
}

let current: Api | null = null;

/** The console's API client, created on first use (so importing a component never opens a socket). */
export function api(): Api {
  current ??= createApi();
  return current;
}

/** Drops the client, its cache and its socket: the next api() starts clean (after sign-in or sign-out). */
export function resetApi() {
  current?.dispose();
  current = null;
  connection.reset();
}
