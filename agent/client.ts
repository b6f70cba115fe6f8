// The agent, shared by every backend: one graphql-ws connection to the server with the host
// token (agent/connection.ts), an inventory report on every (re)connect and on a periodic
// resync, heartbeats (agent/inventory.ts), and the agentOperations stream, each operation
// carried out on the backend and its outcome reported back (agent/operations.ts). AgentClient
// puts them together and owns the agent's life: start, stop, and the end when the server
// refuses it.

import { EventEmitter } from 'node:events';
import type { Logger } from 'pino';
import type { HostBackend } from './backend.ts';
import { ConsoleLink } from './console-link.ts';
import { ServerConnection } from './connection.ts';
import type { AgentContext, AgentEvents } from './context.ts';
import { AgentFatalError, errorMessage } from './errors.ts';
import { InventoryReporter } from './inventory.ts';
import { OperationRunner } from './operations.ts';
import { DEFAULT_BACKOFF, settleWithin, type BackoffOptions } from './retry.ts';
import { WorkQueue } from './work-queue.ts';

export interface AgentClientOptions {
  /** The server: `http(s)://host:port` (its /graphql is used), or a full ws(s):// URL. */
  serverUrl: string;
  /** The host token from enrollHost / rotateHostToken. Never logged. */
  token: string;
  backend: HostBackend;
  logger: Logger;
  /** Default 10 s; the server marks a host OFFLINE after 30 s of silence by default. */
  heartbeatIntervalMs?: number;
  /** Operations on different VMs and devices carried out at once, at most. Default 8. */
  maxConcurrentOperations?: number;
  /** Full inventory report this often, besides every reconnect. Default 5 min. */
  resyncIntervalMs?: number;
  /** A request without an answer this long is retried. Default 30 s. */
  requestTimeoutMs?: number;
  /** Ping the server this often; no pong within the same time drops and redials. Default 10 s. */
  keepAliveMs?: number;
  /** Reconnects and retries wait like this. Default 0.5 s doubling to 30 s, with jitter. */
  backoff?: BackoffOptions;
  /** Told when the server refuses the agent for good; the client stops itself either way. */
  onFatal?: (error: AgentFatalError) => void;
}

export class AgentClient extends EventEmitter<AgentEvents> {
  readonly #options: AgentClientOptions;
  readonly #log: Logger;
  readonly #heartbeatMs: number;
  readonly #abort = new AbortController();
  readonly #timers = new Set<NodeJS.Timeout>();
  readonly #queue: WorkQueue;
  readonly #connection: ServerConnection;
  readonly #inventory: InventoryReporter;
  readonly #operations: OperationRunner;
  #state: 'new' | 'running' | 'stopping' | 'stopped' = 'new';
  #unwatch: (() => void) | undefined;
  #stopped: Promise<void> | null = null;
  /** The console socket beside the graphql-ws connection (agent/console-link.ts). */
  #console: ConsoleLink | null = null;

  constructor(options: AgentClientOptions) {
    super();
    this.#options = options;
    this.#log = options.logger;
    this.#heartbeatMs = options.heartbeatIntervalMs ?? 10_000;
    const backoff = options.backoff ?? DEFAULT_BACKOFF;
    const requestTimeoutMs = options.requestTimeoutMs ?? 30_000;
    const running = () => this.#state === 'running';
    this.#queue = new WorkQueue((error) => this.#log.error({ err: errorMessage(error) }, 'agent job failed unexpectedly'), {
      maxRunning: options.maxConcurrentOperations ?? 8,
    });
    this.#connection = new ServerConnection({
      serverUrl: options.serverUrl,
      token: options.token,
      logger: this.#log,
      keepAliveMs: options.keepAliveMs ?? 10_000,
      requestTimeoutMs,
      backoff,
      signal: this.#abort.signal,
      wanted: running,
      connected: () => {
        this.#operations.connected();
        this.emit('connected');
        // Queued now, before graphql-ws re-sends the operations subscription, so the report
        // runs before any replayed operation (the work queue runs jobs in order).
        this.#inventory.queue('connected');
      },
      lost: (event) => this.emit('disconnected', event),
      refused: (message) => this.#fatal(message),
    });
    const agent: AgentContext = {
      connection: this.#connection,
      backend: options.backend,
      log: this.#log,
      queue: this.#queue,
      backoff,
      signal: this.#abort.signal,
      events: this,
      running,
      later: (ms, action) => this.#later(ms, action),
      fatal: (message) => this.#fatal(message),
    };
    this.#inventory = new InventoryReporter(agent, {
      heartbeatTimeoutMs: Math.max(1_000, Math.min(requestTimeoutMs, this.#heartbeatMs * 2)),
      afterReport: () => this.#operations.subscribe(),
    });
    this.#operations = new OperationRunner(agent, (reason, delayMs) => this.#inventory.queue(reason, delayMs));
  }

  get connected(): boolean {
    return this.#connection.connected;
  }

  /** Operation IDs received and not yet settled with the server. */
  get operationsInHand(): string[] {
    return this.#operations.inHand;
  }

  /** Connects and keeps connecting until stop(). */
  start(): this {
    if (this.#state !== 'new') throw new Error('an AgentClient starts once');
    this.#state = 'running';
    this.#log.info({ server: this.#connection.url }, 'agent starting');
    this.#connection.open();
    const { serverUrl, token, backend } = this.#options;
    this.#console = new ConsoleLink({ serverUrl, token, backend, logger: this.#log, backoff: this.#options.backoff ?? DEFAULT_BACKOFF }).start();
    this.#every(this.#heartbeatMs, () => void this.#inventory.heartbeat());
    this.#every(this.#options.resyncIntervalMs ?? 5 * 60_000, () => this.#inventory.queue('resync'));
    this.#unwatch = backend.onInventoryChange?.(() => this.#inventory.queue('devices changed'));
    return this;
  }

  /**
   * Stops taking work, lets the operations in hand finish and report within `graceMs`, then
   * abandons whatever is left (the server replays it on the next connection, or times it out
   * and the next inventory report settles the truth) and closes the socket.
   */
  stop(options: { graceMs?: number } = {}): Promise<void> {
    this.#stopped ??= this.#shutdown(options.graceMs ?? 10_000);
    return this.#stopped;
  }

  async #shutdown(graceMs: number): Promise<void> {
    if (this.#state === 'new') {
      this.#state = 'stopped';
      return;
    }
    this.#state = 'stopping';
    for (const timer of this.#timers) clearTimeout(timer);
    this.#timers.clear();
    this.#unwatch?.();
    this.#console?.stop();
    this.#operations.unsubscribe();
    const dropped = this.#queue.close();
    if (this.#queue.busy) {
      this.#log.info({ graceMs, queued: dropped }, 'stopping: finishing the operations in hand');
      if (!(await settleWithin(this.#queue.idle(), graceMs))) {
        this.#log.warn({ graceMs }, 'stopping: abandoning the operations in hand; the server replays them on the next connection or times them out');
      }
    }
    this.#abort.abort();
    await settleWithin(this.#queue.idle(), 1_000);
    this.#operations.forget();
    await this.#connection.close();
    this.#state = 'stopped';
    this.#log.info('agent stopped');
  }

  #fatal(message: string) {
    if (this.#state !== 'running') return;
    const error = new AgentFatalError(message);
    this.#log.error({ err: message }, 'the server refuses this agent');
    // Stopping synchronously flips the state, so graphql-ws does not redial.
    void this.stop({ graceMs: 0 });
    this.emit('fatal', error);
    this.#options.onFatal?.(error);
  }

  #every(ms: number, action: () => void) {
    this.#timers.add(setInterval(action, ms));
  }

  #later(ms: number, action: () => void) {
    const timer = setTimeout(() => {
      this.#timers.delete(timer);
      action();
    }, ms);
    this.#timers.add(timer);
  }
}
