import { Client, cacheExchange, fetchExchange, subscriptionExchange } from '@urql/core';
import { createClient as createWsClient, type Client as WsClient } from 'graphql-ws';
import { connection } from './connection.svelte.ts';

/** Waits 0.5 s, 1 s, 2 s, 4 s, then 5 s between reconnects, with jitter so a fleet of consoles does not stampede a restarted server. */
export function backoffMs(retries: number): number {
  const base = Math.min(500 * 2 ** retries, 5_000);
  return base / 2 + Math.random() * (base / 2);
}

function wsUrl(): string {
  const { protocol, host } = window.location;
  return `${protocol === 'https:' ? 'wss' : 'ws'}://${host}/graphql`;
}

export interface Api {
  client: Client;
  ws: WsClient;
}

/**
 * One urql client for the console: queries and mutations over HTTP (document cache, so a page
 * revisited shows its last data at once while it refetches), subscriptions over graphql-ws on
 * the same /graphql path. The socket is opened eagerly and retried forever with backoff; the
 * Connection state drives the header badge and refetch-after-reconnect.
 */
export function createApi(): Api {
  const ws = createWsClient({
    url: wsUrl(),
    lazy: false,
    keepAlive: 10_000,
    retryAttempts: Number.POSITIVE_INFINITY,
    shouldRetry: () => true,
    retryWait: (retries) => new Promise((resolve) => setTimeout(resolve, backoffMs(retries))),
    on: {
      connecting: () => connection.connecting(),
      connected: () => connection.connected(),
      closed: () => connection.lost(),
    },
  });
  const client = new Client({
    url: '/graphql',
    requestPolicy: 'cache-and-network',
    // Always POST with a JSON body and yoga's CSRF header: never a "simple" cross-site request,
    // so CSRF prevention on the server accepts the console's requests.
    preferGetMethod: false,
    fetchOptions: { headers: { 'x-graphql-yoga-csrf': 'passthru-console' }, credentials: 'same-origin' },
    exchanges: [
      cacheExchange,
      fetchExchange,
      subscriptionExchange({
        forwardSubscription(request) {
          const input = { ...request, query: request.query ?? '' };
          return {
            subscribe(sink) {
              const unsubscribe = ws.subscribe(input, sink);
              return { unsubscribe };
            },
          };
        },
      }),
    ],
  });
  return { client, ws };
}

let current: Api | null = null;

/** The console's API client, created on first use (so importing a component never opens a socket). */
export function api(): Api {
  current ??= createApi();
  return current;
}
