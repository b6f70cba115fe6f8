// The agent's protocol code, shared by every backend: one graphql-ws connection to the server
// with the host token, an inventory report on every (re)connect and on a periodic resync,
// heartbeats, and the agentOperations stream, each operation carried out on the backend and
// its outcome reported back — also across a dropped connection.
//
// Every call goes over the one WebSocket (mutations included) rather than HTTP POST:
//  - a heartbeat that gets through proves that the channel operations arrive on is up, so a
//    host shown ONLINE can really receive work (an HTTP heartbeat could keep a host ONLINE
//    while a proxy silently broke its WebSocket and every operation timed out);
//  - graphql-ws re-sends a request that was in flight when the socket dropped once it has
//    reconnected, which is the queue-and-retry an agent needs for its completions; our own
//    retry loop (retryUntilDone) only covers timeouts and server-side errors on top of it;
//  - one authenticated connection per agent instead of one per heartbeat.
// Re-sending is safe because every agent mutation is idempotent on the server: a second
// startOperation on a RUNNING operation is a no-op, a second completeOperation answers
// OperationFinishedError, which the agent treats as settled.

import { EventEmitter } from 'node:events';
import { createClient, type Client } from 'graphql-ws';
import type { Logger } from 'pino';
import WebSocket from 'ws';
import { ConsoleLink } from './console-link.ts';
import type { DiscoveredDevice, HostBackend, HostdevRef, ObservedDevice, ReportedVm } from './backend.ts';
import { backoffDelay, DEFAULT_BACKOFF, pause, retryUntilDone, type BackoffOptions } from './retry.ts';
import { WHOLE_HOST, WorkQueue, type Claim } from './work-queue.ts';

export type OperationType = 'DETACH' | 'ATTACH' | 'ASSIGN' | 'RELEASE' | 'PROVISION' | 'TEARDOWN' | 'START_VM' | 'STOP_VM';

/** An operation as the agentOperations subscription delivers it. */
export interface AgentOperation {
  id: string;
  type: OperationType | string;
  status: string;
  /** The operation's devices: an IOMMU group or a plan's GPUs, far under the page asked for. */
  devices: { nodes: HostdevRef[] };
  vm: { name: string; cores: number; memoryMb: number; diskGb: number } | null;
}

const OPERATION_FIELDS = 'id type status devices(first: 500) { nodes { kind address vendorId productId } } vm { name cores memoryMb diskGb }';
const AGENT_OPERATIONS = `subscription AgentOperations { agentOperations { ${OPERATION_FIELDS} } }`;
const REPORT_INVENTORY = `mutation ReportInventory($input: ReportInventoryInput!) {
  reportInventory(input: $input) { __typename ... on Host { id name } ... on Error { message } }
}`;
const HEARTBEAT = `mutation Heartbeat { heartbeat { __typename ... on Error { message } } }`;
// The answer's __typename is all an accepted acknowledgement needs: asking for the operation's
// fields would make the server read the row it has just written once more.
export const START_OPERATION = `mutation StartOperation($input: StartOperationInput!) {
  startOperation(input: $input) { __typename ... on OperationFinishedError { finishedStatus: status } ... on Error { message } }
}`;
export const COMPLETE_OPERATION = `mutation CompleteOperation($input: CompleteOperationInput!) {
  completeOperation(input: $input) { __typename ... on OperationFinishedError { finishedStatus: status } ... on Error { message } }
}`;

/** How a server from before ReportInventoryInput.vms refuses the field. */
const VMS_UNKNOWN = /Field "vms" is not defined by type "ReportInventoryInput"/;

/** Result members that mean "this credential may not do agent work" (older servers said UnauthenticatedError). */
const REFUSED: ReadonlySet<string> = new Set(['NotAuthorizedError', 'UnauthenticatedError']);

/** graphql-ws close codes the server uses for a missing (4401) or refused (4403) credential. */
const CLOSE_UNAUTHORIZED = 4401;
const CLOSE_FORBIDDEN = 4403;

/** The server's error kept when a host reports a failure (completeOperation keeps 4000 characters). */
const MAX_ERROR_LENGTH = 4000;

interface MutationAnswer {
  __typename: string;
  message?: string;
  /** OperationFinishedError.status: how the operation had ended */
  finishedStatus?: string;
}

/**
 * What an operation touches. Rebinding drivers (detach, attach) takes the whole host, as an
 * inventory snapshot does; the rest work on one VM and the devices it passes through, so
 * operations on different VMs run side by side.
 */
const ON_ONE_VM: ReadonlySet<string> = new Set<OperationType>(['ASSIGN', 'RELEASE', 'PROVISION', 'TEARDOWN', 'START_VM', 'STOP_VM']);

function claimOf(operation: AgentOperation): Claim {
  if (!ON_ONE_VM.has(operation.type)) return WHOLE_HOST;
  return { resources: [...(operation.vm ? [`vm:${operation.vm.name}`] : []), ...operation.devices.nodes.map((device) => `device:${device.address}`)] };
}

/** A backend that can tell when devices come and go (udev, the simulator's hot-plug). */
export interface InventoryWatcher {
  onInventoryChange(listener: () => void): () => void;
}

function isInventoryWatcher(backend: unknown): backend is InventoryWatcher {
  return typeof (backend as Partial<InventoryWatcher>).onInventoryChange === 'function';
}

/** The server refuses this agent for good: a wrong or rotated token, or a deleted host. */
export class AgentFatalError extends Error {
  override name = 'AgentFatalError';
}

/** The request did not get an answer: socket closed for good, timed out, or the server failed. */
export class RequestError extends Error {
  override name = 'RequestError';
}

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

export interface OperationOutcomeEvent {
  id: string;
  type: string;
  /** succeeded / failed: reported; settled: the server had already finished it; abandoned: given up at shutdown. */
  outcome: 'succeeded' | 'failed' | 'settled' | 'abandoned';
  error?: string;
}

type AgentEvents = {
  connected: [];
  disconnected: [{ code: number | null; reason: string }];
  /** `vms`: the domains reported, null when the report said nothing about them. */
  inventory: [{ devices: number; vms: number | null; reason: string }];
  operation: [OperationOutcomeEvent];
  fatal: [AgentFatalError];
};

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

function errorMessage(error: unknown): string {
  if (error instanceof Error) return error.message;
  if (Array.isArray(error)) return error.map(errorMessage).join('; ');
  if (error && typeof error === 'object') {
    const value = error as { message?: unknown; code?: unknown; reason?: unknown };
    if (typeof value.message === 'string') return value.message;
    if (typeof value.code === 'number') return `connection closed (${value.code}${value.reason ? `: ${String(value.reason)}` : ''})`;
  }
  return String(error);
}

/** Whether an error from the server says the token is not accepted. */
function isUnauthenticated(error: unknown): boolean {
  const errors = Array.isArray(error) ? error : [error];
  return errors.some((e) => {
    const value = e as { extensions?: { code?: unknown }; code?: unknown } | null;
    return value?.extensions?.code === 'UNAUTHENTICATED' || value?.code === CLOSE_UNAUTHORIZED || value?.code === CLOSE_FORBIDDEN;
  });
}

function reported(device: DiscoveredDevice) {
  return {
    kind: device.kind,
    address: device.address,
    vendorId: device.vendorId,
    productId: device.productId,
    vendorName: device.vendorName,
    productName: device.productName,
    classCode: device.classCode,
    subsystemVendorId: device.subsystemVendorId,
    subsystemProductId: device.subsystemProductId,
    revision: device.revision,
    serial: device.serial,
    iommuGroup: device.iommuGroup,
    numaNode: device.numaNode,
    driver: device.driver,
    inUse: device.inUse,
  };
}

function reportedVm(vm: ReportedVm) {
  return { name: vm.name, running: vm.running, deviceAddresses: vm.deviceAddresses };
}

async function settleWithin<T>(promise: Promise<T>, ms: number): Promise<boolean> {
  const timeout = new AbortController();
  try {
    return await Promise.race([promise.then(() => true), pause(ms, timeout.signal).then(() => false)]);
  } finally {
    timeout.abort();
  }
}

export class AgentClient extends EventEmitter<AgentEvents> {
  readonly #options: AgentClientOptions;
  readonly #backend: HostBackend;
  readonly #log: Logger;
  readonly #wsUrl: string;
  readonly #heartbeatMs: number;
  readonly #resyncMs: number;
  readonly #requestTimeoutMs: number;
  readonly #keepAliveMs: number;
  readonly #backoff: BackoffOptions;
  readonly #abort = new AbortController();
  readonly #queue: WorkQueue;
  /** Operations received and not yet settled with the server: a replay of one of them is ignored. */
  readonly #inHand = new Set<string>();
  readonly #timers = new Set<NodeJS.Timeout>();

  #state: 'new' | 'running' | 'stopping' | 'stopped' = 'new';
  #ws: Client | null = null;
  #generation = 0;
  #connected = false;
  #pongTimer: NodeJS.Timeout | undefined;
  #operationsSubscription: (() => void) | null = null;
  #heartbeatInFlight = false;
  #inventoryFailures = 0;
  /** False once the server has refused `vms` as an unknown field; asked again after a reconnect. */
  #serverTakesVms = true;
  /** False once the server has refused an outcome's observed devices as an unknown field; asked again after a reconnect. */
  #subscriptionFailures = 0;
  #socketFailures = 0;
  #unwatch: (() => void) | null = null;
  #stopped: Promise<void> | null = null;
  /** The console socket beside the graphql-ws connection (agent/console-link.ts). */
  #console: ConsoleLink | null = null;

  constructor(options: AgentClientOptions) {
    super();
    this.#options = options;
    this.#backend = options.backend;
    this.#log = options.logger;
    this.#wsUrl = graphqlWsUrl(options.serverUrl);
    this.#heartbeatMs = options.heartbeatIntervalMs ?? 10_000;
    this.#resyncMs = options.resyncIntervalMs ?? 5 * 60_000;
    this.#requestTimeoutMs = options.requestTimeoutMs ?? 30_000;
    this.#keepAliveMs = options.keepAliveMs ?? 10_000;
    this.#backoff = options.backoff ?? DEFAULT_BACKOFF;
    this.#queue = new WorkQueue((error) => this.#log.error({ err: errorMessage(error) }, 'agent job failed unexpectedly'), {
      maxRunning: options.maxConcurrentOperations ?? 8,
    });
  }

  get connected(): boolean {
    return this.#connected;
  }

  /** Operation IDs received and not yet settled with the server. */
  get operationsInHand(): string[] {
    return [...this.#inHand];
  }

  /** Connects and keeps connecting until stop(). */
  start(): this {
    if (this.#state !== 'new') throw new Error('an AgentClient starts once');
    this.#state = 'running';
    this.#log.info({ server: loggableUrl(this.#wsUrl) }, 'agent starting');
    this.#openSocket();
    this.#console = new ConsoleLink({ serverUrl: this.#options.serverUrl, token: this.#options.token, backend: this.#backend, logger: this.#log, backoff: this.#backoff }).start();
    this.#every(this.#heartbeatMs, () => void this.#heartbeat());
    this.#every(this.#resyncMs, () => this.#queueInventory('resync'));
    if (isInventoryWatcher(this.#backend)) {
      this.#unwatch = this.#backend.onInventoryChange(() => this.#queueInventory('devices changed'));
    }
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
    this.#operationsSubscription?.();
    this.#operationsSubscription = null;
    const dropped = this.#queue.close();
    if (this.#queue.busy) {
      this.#log.info({ graceMs, queued: dropped }, 'stopping: finishing the operations in hand');
      if (!(await settleWithin(this.#queue.idle(), graceMs))) {
        this.#log.warn({ graceMs }, 'stopping: abandoning the operations in hand; the server replays them on the next connection or times them out');
      }
    }
    this.#abort.abort();
    await settleWithin(this.#queue.idle(), 1_000);
    this.#inHand.clear();
    clearTimeout(this.#pongTimer);
    await this.#closeSocket();
    this.#connected = false;
    this.#state = 'stopped';
    this.#log.info('agent stopped');
  }

  // --- connection ----------------------------------------------------------------------------

  #openSocket() {
    const generation = ++this.#generation;
    const current = () => generation === this.#generation && this.#state !== 'stopped';
    const ws = createClient({
      url: this.#wsUrl,
      webSocketImpl: AgentWebSocket,
      // Connect now and stay connected even between subscriptions: the agent is always on call.
      lazy: false,
      connectionParams: { authorization: `Bearer ${this.#options.token}` },
      connectionAckWaitTimeout: 15_000,
      keepAlive: this.#keepAliveMs,
      // graphql-ws owns reconnection: infinite attempts with our backoff and jitter; every
      // failure (refused, reset, timed out) is worth retrying while the agent runs.
      retryAttempts: Infinity,
      shouldRetry: () => this.#state === 'running',
      retryWait: async (retries) => {
        const delayMs = backoffDelay(retries, this.#backoff);
        this.#log.info({ attempt: retries + 1, delayMs }, 'reconnecting to the server');
        await pause(delayMs, this.#abort.signal);
      },
      // Only closes graphql-ws considers hopeless land here (4400, 4401, 4500...): start a new client.
      onNonLazyError: (error) => {
        if (!current() || this.#state !== 'running') return;
        this.#connected = false;
        const delayMs = backoffDelay(this.#socketFailures++, this.#backoff);
        this.#log.error({ err: errorMessage(error), delayMs }, 'connection refused by the server; starting over');
        this.#later(delayMs, () => {
          if (this.#state !== 'running' || !current()) return;
          this.#operationsSubscription = null;
          void this.#closeSocket();
          this.#openSocket();
        });
      },
      on: {
        connected: () => {
          if (!current()) return;
          this.#connected = true;
          this.#socketFailures = 0;
          this.#subscriptionFailures = 0;
          // The server may have been upgraded while the agent was away.
          this.#serverTakesVms = true;
          this.#log.info({ server: loggableUrl(this.#wsUrl) }, 'connected to the server');
          this.emit('connected');
          // Queued now, before graphql-ws re-sends the operations subscription, so the report
          // runs before any replayed operation (the work queue runs jobs in order).
          this.#queueInventory('connected');
        },
        closed: (event) => {
          if (!current()) return;
          clearTimeout(this.#pongTimer);
          const wasConnected = this.#connected;
          this.#connected = false;
          const { code, reason } = (event ?? {}) as { code?: number; reason?: string };
          if (wasConnected) {
            this.#log.warn({ code: code ?? null, reason: reason || undefined }, 'connection to the server lost');
            this.emit('disconnected', { code: code ?? null, reason: reason ?? '' });
          }
          // The server closes with 4401/4403 when it does not accept the token (wrong, rotated,
          // host deleted). graphql-ws would retry a 4403 forever; a host token never becomes
          // valid again, so this is the end. Runs before graphql-ws decides whether to retry.
          if (code === CLOSE_UNAUTHORIZED || code === CLOSE_FORBIDDEN) {
            this.#fatal(`the server refused the host token (${code}${reason ? `: ${reason}` : ''}); get a new one with rotateHostToken`);
          }
        },
        // A ping without a pong means a half-open connection (a NAT or a server that froze):
        // terminate it so graphql-ws redials instead of waiting for TCP to notice.
        ping: (received) => {
          if (received) return;
          clearTimeout(this.#pongTimer);
          this.#pongTimer = setTimeout(() => {
            this.#log.warn({ keepAliveMs: this.#keepAliveMs }, 'no pong from the server; dropping the connection');
            ws.terminate();
          }, this.#keepAliveMs);
        },
        pong: (received) => {
          if (received) clearTimeout(this.#pongTimer);
        },
      },
    });
    this.#ws = ws;
  }

  async #closeSocket() {
    const ws = this.#ws;
    if (!ws) return;
    this.#ws = null;
    const disposed = Promise.resolve(ws.dispose()).catch(() => {});
    if (!(await settleWithin(disposed, 2_000))) ws.terminate();
  }

  /** One request over the socket; resolves with `data`, rejects with RequestError. */
  #request<T = Record<string, MutationAnswer>>(query: string, variables: Record<string, unknown> = {}, timeoutMs = this.#requestTimeoutMs): Promise<T> {
    const ws = this.#ws;
    if (!ws) return Promise.reject(new RequestError('not connected'));
    return new Promise<T>((resolve, reject) => {
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
      const dispose = ws.subscribe<T>(
        { query, variables },
        {
          next: (result) => {
            if (result.errors?.length) {
              settle(() => reject(new RequestError(`server error: ${result.errors!.map((e) => e.message).join('; ')}`)));
            } else if (!result.data) {
              settle(() => reject(new RequestError('the server answered without data')));
            } else {
              settle(() => resolve(result.data as T));
            }
          },
          error: (error) => settle(() => reject(new RequestError(errorMessage(error)))),
          complete: () => settle(() => reject(new RequestError('the server answered nothing'))),
        },
      );
    });
  }

  /**
   * A mutation whose answer matters (start, complete): retried with backoff until the server
   * gives a definite answer (any member of the result union). Null when shutting down first.
   */
  #deliver(field: string, query: string, variables: () => Record<string, unknown>, log: Logger): Promise<MutationAnswer | null> {
    return retryUntilDone<MutationAnswer>(
      async () => {
        try {
          const answer = (await this.#request(query, variables()))[field];
          if (answer?.__typename) return { done: true, value: answer };
          return { done: false, error: new RequestError(`no ${field} in the answer`) };
        } catch (error) {
          return { done: false, error };
        }
      },
      {
        backoff: this.#backoff,
        signal: this.#abort.signal,
        onRetry: (error, tryNumber, delayMs) =>
          log.warn({ err: errorMessage(error), attempt: tryNumber + 1, delayMs, connected: this.#connected }, `${field} did not get through; retrying`),
      },
    );
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
    const timer = setInterval(action, ms);
    this.#timers.add(timer);
  }

  #later(ms: number, action: () => void) {
    const timer = setTimeout(() => {
      this.#timers.delete(timer);
      action();
    }, ms);
    this.#timers.add(timer);
  }

  // --- heartbeat and inventory ---------------------------------------------------------------

  async #heartbeat() {
    if (!this.#connected || this.#heartbeatInFlight || this.#state !== 'running') return;
    this.#heartbeatInFlight = true;
    try {
      const { heartbeat } = await this.#request(HEARTBEAT, {}, Math.max(1_000, Math.min(this.#requestTimeoutMs, this.#heartbeatMs * 2)));
      if (REFUSED.has(heartbeat!.__typename) || heartbeat!.__typename === 'NotFoundError') this.#fatal(heartbeat!.message ?? heartbeat!.__typename);
      else this.#log.debug('heartbeat');
    } catch (error) {
      this.#log.warn({ err: errorMessage(error) }, 'heartbeat failed');
    } finally {
      this.#heartbeatInFlight = false;
    }
  }

  #queueInventory(reason: string, delayMs = 0) {
    if (this.#state !== 'running') return;
    if (delayMs > 0) {
      this.#later(delayMs, () => this.#queueInventory(reason));
      return;
    }
    // One waiting report is enough: it reads the host when it runs, not when it was queued.
    this.#queue.push(() => this.#reportInventory(reason), { key: 'inventory' });
  }

  async #reportInventory(reason: string) {
    if (this.#state !== 'running') return;
    // Not connected: the next `connected` queues a report of its own.
    if (!this.#connected) return;
    let facts, devices, vms: ReportedVm[] | null;
    try {
      [facts, devices, vms] = await Promise.all([this.#backend.facts(), this.#backend.inventory(), this.#readVms()]);
    } catch (error) {
      const delayMs = backoffDelay(this.#inventoryFailures++, this.#backoff);
      this.#log.error({ err: errorMessage(error), delayMs }, 'could not read the host inventory; trying again');
      this.#queueInventory(reason, delayMs);
      return;
    }
    try {
      const input = { facts, devices: devices.map(reported), ...(vms ? { vms: vms.map(reportedVm) } : {}) };
      let answer;
      try {
        answer = await this.#request(REPORT_INVENTORY, { input });
      } catch (error) {
        if (!vms || !VMS_UNKNOWN.test(errorMessage(error))) throw error;
        // A server older than this agent: report what it understands rather than nothing.
        this.#serverTakesVms = false;
        this.#log.warn('the server does not take the host domains in the inventory report; reporting without them');
        vms = null;
        answer = await this.#request(REPORT_INVENTORY, { input: { facts, devices: input.devices } });
      }
      const { reportInventory } = answer;
      const vmCount = vms ? vms.length : null;
      switch (reportInventory!.__typename) {
        case 'Host':
          this.#inventoryFailures = 0;
          this.#log.info({ devices: devices.length, vms: vmCount, reason }, 'inventory reported');
          this.emit('inventory', { devices: devices.length, vms: vmCount, reason });
          break;
        case 'NotAuthorizedError':
        case 'UnauthenticatedError':
        case 'NotFoundError':
          this.#fatal(reportInventory!.message ?? reportInventory!.__typename);
          return;
        default:
          // The server refused this inventory (ValidationError): a bug on one side; resync retries.
          this.#log.error({ err: reportInventory!.message, type: reportInventory!.__typename }, 'the server rejected the inventory');
      }
      // Operations come after the first report, so the server knows the devices they name.
      this.#ensureOperationsSubscription();
    } catch (error) {
      const delayMs = backoffDelay(this.#inventoryFailures++, this.#backoff);
      this.#log.warn({ err: errorMessage(error), reason, delayMs }, 'inventory report did not get through; trying again');
      this.#queueInventory(reason, delayMs);
    }
  }

  /**
   * The host's domains for the report; null (the server takes that as "unknown") when they
   * cannot be read, so a libvirt that is down does not hold back the device inventory.
   */
  async #readVms(): Promise<ReportedVm[] | null> {
    if (!this.#serverTakesVms) return null;
    try {
      return await this.#backend.vms();
    } catch (error) {
      this.#log.warn({ err: errorMessage(error) }, 'could not list the host domains; reporting the inventory without them');
      return null;
    }
  }

  // --- operations --------------------------------------------------------------------------

  #ensureOperationsSubscription() {
    if (this.#operationsSubscription || this.#state !== 'running' || !this.#ws) return;
    const ws = this.#ws;
    let ended = false;
    const end = (why: string, error?: unknown) => {
      if (ended) return;
      ended = true;
      if (this.#ws === ws) this.#operationsSubscription = null;
      if (this.#state !== 'running' || this.#ws !== ws) return;
      if (error !== undefined && isUnauthenticated(error)) {
        this.#fatal(errorMessage(error));
        return;
      }
      const delayMs = backoffDelay(this.#subscriptionFailures++, this.#backoff);
      this.#log.warn({ err: error === undefined ? undefined : errorMessage(error), delayMs }, `operation stream ${why}; subscribing again`);
      // Re-reporting first keeps the order: inventory, then operations.
      this.#queueInventory('resubscribe', delayMs);
    };
    this.#operationsSubscription = ws.subscribe<{ agentOperations: AgentOperation }>(
      { query: AGENT_OPERATIONS },
      {
        next: (result) => {
          if (result.errors?.length) {
            if (isUnauthenticated(result.errors)) this.#fatal(errorMessage(result.errors));
            else this.#log.error({ err: errorMessage(result.errors) }, 'operation stream error');
            return;
          }
          const operation = result.data?.agentOperations;
          if (operation) this.#receive(operation);
        },
        error: (error) => end('failed', error),
        complete: () => end('ended'),
      },
    );
    this.#log.info('waiting for operations');
  }

  #receive(operation: AgentOperation) {
    const log = this.#log.child({ operationId: operation.id, type: operation.type });
    if (operation.status !== 'PENDING' && operation.status !== 'RUNNING') {
      log.debug({ status: operation.status }, 'operation already finished; ignoring');
      return;
    }
    // Replays after a reconnect repeat operations already in hand: never start one twice.
    if (this.#inHand.has(operation.id)) {
      log.debug('operation already in hand; ignoring the replay');
      return;
    }
    this.#inHand.add(operation.id);
    const queued = this.#queue.push(
      async () => {
        try {
          await this.#runOperation(operation, log);
        } finally {
          this.#inHand.delete(operation.id);
        }
      },
      { claim: claimOf(operation) },
    );
    if (!queued) this.#inHand.delete(operation.id);
    else log.debug({ waiting: this.#queue.waiting }, 'operation queued');
  }

  async #runOperation(operation: AgentOperation, baseLog: Logger) {
    const log = operation.vm ? baseLog.child({ vm: operation.vm.name }) : baseLog;
    const abandoned = (error: string) => this.emit('operation', { id: operation.id, type: operation.type, outcome: 'abandoned', error });

    const started = await this.#deliver('startOperation', START_OPERATION, () => ({ input: { operationId: operation.id } }), log);
    if (!started) {
      log.warn('not started before shutdown; the server replays it on the next connection');
      abandoned('shutdown before start');
      return;
    }
    switch (started.__typename) {
      case 'Operation':
        break;
      case 'OperationFinishedError':
        log.info({ status: started.finishedStatus }, 'the server already finished this operation; skipping it');
        this.emit('operation', { id: operation.id, type: operation.type, outcome: 'settled' });
        this.#queueInventory('operation settled by the server');
        return;
      case 'NotAuthorizedError':
      case 'UnauthenticatedError':
        this.#fatal(started.message ?? started.__typename);
        return;
      default:
        log.warn({ answer: started.__typename, err: started.message }, 'the server would not start this operation; skipping it');
        return;
    }

    const devices = operation.devices.nodes.map((d) => d.address);
    log.info({ devices }, 'operation started');
    const begun = Date.now();
    const outcome = await this.#execute(operation);
    const durationMs = Date.now() - begun;
    if (outcome.succeeded) log.info({ durationMs }, 'operation done on the host');
    else log.warn({ durationMs, err: outcome.error }, 'operation failed on the host');

    // The outcome carries the devices' new drivers, so no inventory report has to follow it.
    const observed = await this.#observe(operation, log);
    const carried = observed !== null;
    const answer = await this.#deliver(
      'completeOperation',
      COMPLETE_OPERATION,
      () => ({
        input: {
          operationId: operation.id,
          succeeded: outcome.succeeded,
          ...(outcome.error ? { error: outcome.error } : {}),
          ...(observed ? { devices: observed } : {}),
        },
      }),
      log,
    );
    if (!answer) {
      log.warn({ succeeded: outcome.succeeded }, 'outcome not reported before shutdown; the server replays the operation on the next connection or times it out');
      abandoned('shutdown before the outcome was reported');
      return;
    }
    switch (answer.__typename) {
      case 'Operation':
        log.info({ succeeded: outcome.succeeded }, 'outcome reported');
        this.emit('operation', { id: operation.id, type: operation.type, outcome: outcome.succeeded ? 'succeeded' : 'failed', ...(outcome.error ? { error: outcome.error } : {}) });
        break;
      case 'OperationFinishedError':
        // Usually a timeout on the server; the inventory report below tells it what really happened.
        log.warn({ status: answer.finishedStatus }, 'the server had already finished this operation (timed out?); re-reporting inventory');
        this.emit('operation', { id: operation.id, type: operation.type, outcome: 'settled' });
        this.#queueInventory('operation settled by the server');
        return;
      case 'NotAuthorizedError':
      case 'UnauthenticatedError':
        this.#fatal(answer.message ?? answer.__typename);
        return;
      default:
        log.error({ answer: answer.__typename, err: answer.message }, 'the server refused the outcome');
    }
    // A failure may have left the host half-way (a domain defined but not started...), and an
    // outcome without the devices' state leaves the server guessing: a full report settles both.
    if (!outcome.succeeded || (operation.devices.nodes.length > 0 && !carried)) this.#queueInventory(`after ${operation.type}`);
  }

  /** The operation's devices as the host sees them now; null when it has none or they cannot be read. */
  async #observe(operation: AgentOperation, log: Logger): Promise<ObservedDevice[] | null> {
    if (operation.devices.nodes.length === 0) return null;
    try {
      return await this.#backend.observe(operation.devices.nodes);
    } catch (error) {
      log.warn({ err: errorMessage(error) }, 'could not read the devices after the operation; an inventory report follows the outcome');
      return null;
    }
  }

  async #execute(operation: AgentOperation): Promise<{ succeeded: boolean; error?: string }> {
    const backend = this.#backend;
    const devices: HostdevRef[] = operation.devices.nodes.map((d) => ({ kind: d.kind, address: d.address, vendorId: d.vendorId, productId: d.productId }));
    const vm = () => {
      if (!operation.vm) throw new Error(`${operation.type} operation ${operation.id} names no VM`);
      return operation.vm;
    };
    try {
      switch (operation.type) {
        case 'DETACH':
          await backend.detach(devices);
          break;
        case 'ATTACH':
          await backend.attach(devices);
          break;
        case 'ASSIGN':
          for (const device of devices) await backend.assignDevice(vm().name, device);
          break;
        case 'RELEASE':
          for (const device of devices) await backend.releaseDevice(vm().name, device);
          break;
        case 'PROVISION': {
          const { name, cores, memoryMb, diskGb } = vm();
          await backend.provisionVm({ name, cores, memoryMb, diskGb, devices });
          break;
        }
        case 'TEARDOWN':
          await backend.teardownVm(vm().name);
          break;
        case 'START_VM':
          await backend.startVm(vm().name);
          break;
        case 'STOP_VM':
          await backend.stopVm(vm().name);
          break;
        default:
          throw new Error(`this agent does not know operation type ${operation.type}; upgrade the agent`);
      }
      return { succeeded: true };
    } catch (error) {
      return { succeeded: false, error: (errorMessage(error) || 'the host reported an error without a message').slice(0, MAX_ERROR_LENGTH) };
    }
  }
}
