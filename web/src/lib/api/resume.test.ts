// @vitest-environment node
import { once } from 'node:events';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import type { AddressInfo } from 'node:net';
import { GraphQLError, buildSchema } from 'graphql';
import { createClient, type Client as WsClient } from 'graphql-ws';
import { useServer } from 'graphql-ws/use/ws';
import type { WebSocketServer } from 'ws';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import type { ExecutionResult } from '@urql/core';
import { resumable } from './resume.ts';

// The console's test project resolves 'ws' to its browser stub (the 'browser' condition, even for
// require), so the Node build is loaded by its path.
const require = createRequire(import.meta.url);
const { WebSocket, WebSocketServer: Server }: typeof import('ws') = require(join(dirname(require.resolve('ws/package.json')), 'index.js'));

// A real graphql-ws server speaking the shape of the API's subscriptions: each event a wrapper
// with a cursor, `after:` to resume, and a CursorExpiredError for a cursor it no longer has.
const schema = buildSchema(`
  type Query { ok: Boolean }
  type Device { id: ID! status: String! }
  type DeviceChange { cursor: String! device: Device! }
  type Subscription { deviceChanged(after: String): DeviceChange! }
`);
const DOCUMENT = 'subscription DeviceEvents($after: String) { deviceChanged(after: $after) { cursor device { id status } } }';

/** What each subscribe asked for, and the way to push an event to the current subscriber. */
class FakeChangeLog {
  afters: (string | null)[] = [];
  /** Cursors the server refuses, and the code it refuses them with. */
  refused = new Map<string, string>();
  #push: ((cursor: string) => void) | null = null;
  #subscribed: (() => void)[] = [];

  deviceChanged = ({ after }: { after: string | null }) => {
    this.afters.push(after);
    const code = after === null ? undefined : this.refused.get(after);
    if (code) throw new GraphQLError(`cursor ${after} cannot be resumed`, { extensions: { code } });
    const queue: string[] = [];
    let wake: (() => void) | null = null;
    this.#push = (cursor) => {
      queue.push(cursor);
      wake?.();
    };
    for (const resolve of this.#subscribed.splice(0)) resolve();
    return (async function* () {
      for (;;) {
        const cursor = queue.shift();
        if (cursor === undefined) await new Promise<void>((resolve) => (wake = resolve));
        else yield { deviceChanged: { cursor, device: { id: 'd1', status: cursor } } };
      }
    })();
  };

  /** Resolves once the `n`th subscribe has reached the server. */
  async subscribed(n: number) {
    while (this.afters.length < n) await new Promise<void>((resolve) => this.#subscribed.push(resolve));
  }

  push(cursor: string) {
    this.#push?.(cursor);
  }
}

/** Collects what reaches urql, resolving `waitFor` when the given number of results arrived. */
function urqlSink() {
  const results: ExecutionResult[] = [];
  const errors: unknown[] = [];
  let waiters: { n: number; resolve: () => void }[] = [];
  return {
    results,
    errors,
    sink: {
      next(result: ExecutionResult) {
        results.push(result);
        waiters = waiters.filter((w) => (results.length >= w.n ? (w.resolve(), false) : true));
      },
      error: (error: unknown) => errors.push(error),
      complete: () => {},
    },
    waitFor: (n: number) => new Promise<void>((resolve) => (results.length >= n ? resolve() : waiters.push({ n, resolve }))),
  };
}

describe('resumable subscriptions', () => {
  let wss: WebSocketServer;
  let ws: WsClient;
  let log: FakeChangeLog;

  beforeEach(async () => {
    log = new FakeChangeLog();
    wss = new Server({ host: '127.0.0.1', port: 0 });
    await once(wss, 'listening');
    useServer({ schema, roots: { subscription: { deviceChanged: log.deviceChanged } } }, wss);
    const { port } = wss.address() as AddressInfo;
    ws = createClient({ url: `ws://127.0.0.1:${port}`, webSocketImpl: WebSocket, retryAttempts: 5, retryWait: async () => {} });
  });

  afterEach(async () => {
    await ws.dispose();
    wss.close();
  });

  const forward = (reread: () => void) => resumable((payload, sink) => ws.subscribe(payload, sink), reread);
  const request = (after: string | null) => ({ query: DOCUMENT, operationName: 'DeviceEvents', variables: { after }, extensions: undefined });

  it('resubscribes after a reconnect with the cursor of the last event it received', async () => {
    const urql = urqlSink();
    const subscription = forward(() => {})(request(null)).subscribe(urql.sink);
    await log.subscribed(1);
    log.push('c1');
    log.push('c2');
    await urql.waitFor(2);

    for (const socket of wss.clients) socket.terminate();
    await log.subscribed(2);
    log.push('c3');
    await urql.waitFor(3);
    subscription.unsubscribe();

    expect(log.afters).toEqual([null, 'c2']);
    expect(urql.results.map((r) => JSON.stringify(r.data))).toContain(JSON.stringify({ deviceChanged: { cursor: 'c3', device: { id: 'd1', status: 'c3' } } }));
  });

  it('starts from the cursor it is given (the head of the change log) and resumes from it if the link drops before any event', async () => {
    const subscription = forward(() => {})(request('head-7')).subscribe(urqlSink().sink);
    await log.subscribed(1);
    for (const socket of wss.clients) socket.terminate();
    await log.subscribed(2);
    subscription.unsubscribe();

    expect(log.afters).toEqual(['head-7', 'head-7']);
  });

  it.each(['CursorExpiredError', 'SubscriberBehindError'])('on %s drops the cursor, re-reads once and follows from now, without showing the error', async (code) => {
    log.refused.set('too-old', code);
    const reread = vi.fn();
    const urql = urqlSink();
    const subscription = forward(reread)(request('too-old')).subscribe(urql.sink);
    await log.subscribed(2);
    log.push('c9');
    await urql.waitFor(1);
    subscription.unsubscribe();

    expect(log.afters).toEqual(['too-old', null]);
    expect(reread).toHaveBeenCalledTimes(1);
    expect(urql.errors).toEqual([]);
    expect(urql.results.every((r) => !r.errors)).toBe(true);
  });
});
