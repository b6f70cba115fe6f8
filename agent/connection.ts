// The agent's one graphql-ws connection to the server, authenticated with the host token:
// dialled at once and kept up (graphql-ws redials with our backoff), a half-open socket
// dropped when a ping gets no pong, the host token's refusal (close 4401/4403) told as final.
//
// Every call goes over this one WebSocket (mutations included) rather than HTTP POST:
//  - a heartbeat that gets through proves that the channel operations arrive on is up, so a
//    host shown ONLINE can really receive work (an HTTP heartbeat could keep a host ONLINE
//    while a proxy silently broke its WebSocket and every operation timed out);
//  - graphql-ws re-sends a request that was in flight when the socket dropped once it has
//    reconnected, which is the queue-and-retry an agent needs for its completions; our own
//    retry loop (agent/answers.ts) only covers timeouts and server-side errors on top of it;
//  - one authenticated connection per agent instead of one per heartbeat.

import { print, type DocumentNode } from 'graphql';
import type { TadaDocumentNode } from 'gql.tada';
import { createClient, type Client } from 'graphql-ws';
import type { Logger } from 'pino';
import WebSocket from 'ws';
import { errorMessage } from './errors.ts';
import { backoffDelay, pause, settleWithin, type BackoffOptions } from './retry.ts';

/** graphql-ws close codes the server uses for a missing (4401) or refused (4403) credential. */
const CLOSE_UNAUTHORIZED = 4401;
const CLOSE_FORBIDDEN = 4403;

/** The request did not get an answer: socket closed for good, timed out, or the server failed. */
export class RequestError extends Error {
  override name = 'RequestError';
}

/** The WebSocket URL of the server's GraphQL endpoint. */
export function graphqlWsUrl(serverUrl: string): string {
  const url = new URL(serverUrl);
  if (url.protocol === 'http:') url.protocol = 'ws:';
  else if (url.protocol === 'https:') url.protocol = 'wss:';
  else if (url.protocol !== 'ws:' && url.protocol !== 'wss:') throw new Error(`server URL must be http(s):// or ws(s)://, got ${url.protocol}`);
  if (url.pathname === '' || url.pathname === '/') url.pathname = '/graphql';
  return url.toString();
}

/** A URL fit for logs: no user name or password in it. */
export function loggableUrl(serverUrl: string): string {
  try {
    const url = new URL(serverUrl);
    url.username = '';
    url.password = '';
    return url.toString();
  } catch {
    return '(invalid URL)';
  }
}

/** Whether a subscription's error is the server refusing the host token. */
export function refusesToken(error: unknown): boolean {
  return typeof error === 'object' && error !== null && 'code' in error && (error.code === CLOSE_UNAUTHORIZED || error.code === CLOSE_FORBIDDEN);
}

function closeDetails(event: unknown): { code: number | null; reason: string } {
  if (typeof event !== 'object' || event === null) return { code: null, reason: '' };
  return {
    code: 'code' in event && typeof event.code === 'number' ? event.code : null,
    reason: 'reason' in event && typeof event.reason === 'string' ? event.reason : '',
  };
}

/** Each document printed once: agents send the same few documents all day. */
const printed = new WeakMap<DocumentNode, string>();
function source(document: DocumentNode): string {
  let text = printed.get(document);
  if (text === undefined) {
    text = print(document);
    printed.set(document, text);
  }
  return text;
}

/**
 * `ws` emits 'error' when a socket still connecting is closed on purpose (stop() during a
 * reconnect); graphql-ws has let go of it by then, and an unheard 'error' would crash the
 * agent. Failures that matter reach graphql-ws as close events.
 */
class AgentWebSocket extends WebSocket {
  constructor(...args: ConstructorParameters<typeof WebSocket>) {
    super(...args);
    this.on('error', () => {});
  }
}

export interface ConnectionOptions {
  serverUrl: string;
  token: string;
  logger: Logger;
  keepAliveMs: number;
  requestTimeoutMs: number;
  backoff: BackoffOptions;
  /** Aborted when the agent shuts down: a reconnect waiting its turn gives up. */
  signal: AbortSignal;
  /** Whether the agent still wants the connection; graphql-ws redials only while it does. */
  wanted(): boolean;
  connected(): void;
  lost(event: { code: number | null; reason: string }): void;
  /** The server does not accept the host token (wrong, rotated, host deleted): it never will again. */
  refused(message: string): void;
}

/** A subscription, and the socket it was made on: a socket started over does not carry it. */
export interface Subscription {
  readonly socket: number;
  dispose(): void;
}

export interface SubscriptionSink<Result> {
  next(result: { data?: Result | null; errors?: readonly { message: string }[] }): void;
  error(error: unknown): void;
  complete(): void;
}

export class ServerConnection {
  readonly #options: ConnectionOptions;
  readonly #url: string;
  #client: Client | null = null;
  /** Counts the graphql-ws clients started: events of one replaced are ignored. */
  #socket = 0;
  #connected = false;
  #closed = false;
  #failures = 0;
  #pongTimer: NodeJS.Timeout | undefined;
  #restartTimer: NodeJS.Timeout | undefined;

  constructor(options: ConnectionOptions) {
    this.#options = options;
    this.#url = graphqlWsUrl(options.serverUrl);
  }

  get url(): string {
    return loggableUrl(this.#url);
  }

  get connected(): boolean {
    return this.#connected;
  }

  /** Whether a subscription made on `socket` is still carried by the connection. */
  carries(subscription: Subscription): boolean {
    return subscription.socket === this.#socket && this.#client !== null;
  }

  open() {
    const socket = ++this.#socket;
    const current = () => socket === this.#socket && !this.#closed;
    const log = this.#options.logger;
    const client = createClient({
      url: this.#url,
      webSocketImpl: AgentWebSocket,
      // Connect now and stay connected even between subscriptions: the agent is always on call.
      lazy: false,
      connectionParams: { authorization: `Bearer ${this.#options.token}` },
      connectionAckWaitTimeout: 15_000,
      keepAlive: this.#options.keepAliveMs,
      // graphql-ws owns reconnection: infinite attempts with our backoff and jitter; every
      // failure (refused, reset, timed out) is worth retrying while the agent runs.
      retryAttempts: Infinity,
      shouldRetry: () => this.#options.wanted(),
      retryWait: async (retries) => {
        const delayMs = backoffDelay(retries, this.#options.backoff);
        log.info({ attempt: retries + 1, delayMs }, 'reconnecting to the server');
        await pause(delayMs, this.#options.signal);
      },
      // Only closes graphql-ws considers hopeless land here (4400, 4401, 4500...): start a new client.
      onNonLazyError: (error) => {
        if (!current() || !this.#options.wanted()) return;
        this.#connected = false;
        const delayMs = backoffDelay(this.#failures++, this.#options.backoff);
        log.error({ err: errorMessage(error), delayMs }, 'connection refused by the server; starting over');
        this.#restartTimer = setTimeout(() => {
          if (!this.#options.wanted() || !current()) return;
          void this.#dispose();
          this.open();
        }, delayMs);
      },
      on: {
        connected: () => {
          if (!current()) return;
          this.#connected = true;
          this.#failures = 0;
          log.info({ server: this.url }, 'connected to the server');
          this.#options.connected();
        },
        closed: (event) => {
          if (!current()) return;
          clearTimeout(this.#pongTimer);
          const wasConnected = this.#connected;
          this.#connected = false;
          const { code, reason } = closeDetails(event);
          if (wasConnected) {
            log.warn({ code, reason: reason || undefined }, 'connection to the server lost');
            this.#options.lost({ code, reason });
          }
          // graphql-ws would retry a 4403 forever; a host token never becomes valid again, so
          // this is the end. Runs before graphql-ws decides whether to retry.
          if (code === CLOSE_UNAUTHORIZED || code === CLOSE_FORBIDDEN) {
            this.#options.refused(`the server refused the host token (${code}${reason ? `: ${reason}` : ''}); get a new one with rotateHostToken`);
          }
        },
        // A ping without a pong means a half-open connection (a NAT or a server that froze):
        // terminate it so graphql-ws redials instead of waiting for TCP to notice.
        ping: (received) => {
          if (received) return;
          clearTimeout(this.#pongTimer);
          this.#pongTimer = setTimeout(() => {
            log.warn({ keepAliveMs: this.#options.keepAliveMs }, 'no pong from the server; dropping the connection');
            client.terminate();
          }, this.#options.keepAliveMs);
        },
        pong: (received) => {
          if (received) clearTimeout(this.#pongTimer);
        },
      },
    });
    this.#client = client;
  }

  /** Closes the socket for good. */
  async close() {
    clearTimeout(this.#pongTimer);
    clearTimeout(this.#restartTimer);
    await this.#dispose();
    this.#connected = false;
    this.#closed = true;
  }

  async #dispose() {
    const client = this.#client;
    if (!client) return;
    this.#client = null;
    const disposed = Promise.resolve(client.dispose()).catch(() => {});
    if (!(await settleWithin(disposed, 2_000))) client.terminate();
  }

  /** One request over the socket; resolves with `data`, rejects with RequestError. */
  request<Result, Variables extends Record<string, unknown>>(document: TadaDocumentNode<Result, Variables>, variables: Variables, timeoutMs = this.#options.requestTimeoutMs): Promise<Result> {
    const client = this.#client;
    if (!client) return Promise.reject(new RequestError('not connected'));
    return new Promise<Result>((resolve, reject) => {
      let settled = false;
      const settle = (action: () => void) => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        action();
      };
      const timer = setTimeout(() => {
        settle(() => reject(new RequestError(`no answer from the server within ${timeoutMs} ms`)));
        dispose();
      }, timeoutMs);
      const dispose = client.subscribe<Result>(
        { query: source(document), variables },
        {
          next: ({ data, errors }) => {
            if (errors?.length) settle(() => reject(new RequestError(`server error: ${errors.map((e) => e.message).join('; ')}`)));
            else if (!data) settle(() => reject(new RequestError('the server answered without data')));
            else settle(() => resolve(data));
          },
          error: (error) => settle(() => reject(new RequestError(errorMessage(error)))),
          complete: () => settle(() => reject(new RequestError('the server answered nothing'))),
        },
      );
    });
  }

  /** A subscription on the current socket; graphql-ws re-sends it when it redials. Null when not open. */
  subscribe<Result, Variables extends Record<string, unknown>>(document: TadaDocumentNode<Result, Variables>, variables: Variables, sink: SubscriptionSink<Result>): Subscription | null {
    if (!this.#client) return null;
    return { socket: this.#socket, dispose: this.#client.subscribe<Result>({ query: source(document), variables }, sink) };
  }
}
