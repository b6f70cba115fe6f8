// The agentOperations stream and each operation's life on this host: acknowledged
// (startOperation), carried out on the backend (agent/operation-steps.ts), its outcome and the
// devices' new state reported (completeOperation) — also across a dropped connection.

import type { Logger } from 'pino';
import { AGENT_OPERATIONS, COMPLETE_OPERATION, START_OPERATION, type AgentOperation, type ObservedDevice } from '../protocol/agent.ts';
import { deliver } from './answers.ts';
import { refusesToken, type Subscription } from './connection.ts';
import type { AgentContext } from './context.ts';
import { errorMessage } from './errors.ts';
import { carryOut, claimOf } from './operation-steps.ts';
import { backoffDelay } from './retry.ts';

export class OperationRunner {
  readonly #agent: AgentContext;
  readonly #queueInventory: (reason: string, delayMs?: number) => void;
  /** Operations received and not yet settled with the server: a replay of one of them is ignored. */
  readonly #inHand = new Set<string>();
  #subscription: Subscription | null = null;
  #failures = 0;

  /** `queueInventory`: asks for a full report, which the stream waits for (agent/inventory.ts). */
  constructor(agent: AgentContext, queueInventory: (reason: string, delayMs?: number) => void) {
    this.#agent = agent;
    this.#queueInventory = queueInventory;
  }

  /** Operation IDs received and not yet settled with the server. */
  get inHand(): string[] {
    return [...this.#inHand];
  }

  /** A new connection: the stream may fail again as often before it backs off long. */
  connected() {
    this.#failures = 0;
  }

  /** Subscribes to the stream unless the connection already carries it. */
  subscribe() {
    const { connection, log } = this.#agent;
    if (!this.#agent.running() || (this.#subscription && connection.carries(this.#subscription))) return;
    let subscription: Subscription | null = null;
    let ended = false;
    const end = (why: string, error?: unknown) => {
      if (ended) return;
      ended = true;
      if (this.#subscription === subscription) this.#subscription = null;
      // A socket started over since: its `connected` leads to a new subscription.
      if (!this.#agent.running() || !subscription || !connection.carries(subscription)) return;
      if (error !== undefined && refusesToken(error)) {
        this.#agent.fatal(errorMessage(error));
        return;
      }
      const delayMs = backoffDelay(this.#failures++, this.#agent.backoff);
      log.warn({ err: error === undefined ? undefined : errorMessage(error), delayMs }, `operation stream ${why}; subscribing again`);
      // Re-reporting first keeps the order: inventory, then operations.
      this.#queueInventory('resubscribe', delayMs);
    };
    subscription = connection.subscribe(
      AGENT_OPERATIONS,
      {},
      {
        next: ({ data, errors }) => {
          if (errors?.length) log.error({ err: errorMessage(errors) }, 'operation stream error');
          else if (data) this.#receive(data.agentOperations);
        },
        error: (error) => end('failed', error),
        complete: () => end('ended'),
      },
    );
    if (!subscription) return;
    this.#subscription = subscription;
    log.info('waiting for operations');
  }

  /** Stops taking operations (shutdown). */
  unsubscribe() {
    this.#subscription?.dispose();
    this.#subscription = null;
  }

  /** Forgets the operations in hand: abandoned at shutdown, replayed by the server next time. */
  forget() {
    this.#inHand.clear();
  }

  #receive(operation: AgentOperation) {
    const log = this.#agent.log.child({ operationId: operation.id, type: operation.type });
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
    const queue = this.#agent.queue;
    const queued = queue.push(
      async () => {
        try {
          await this.#run(operation, operation.vm ? log.child({ vm: operation.vm.name }) : log);
        } finally {
          this.#inHand.delete(operation.id);
        }
      },
      { claim: claimOf(operation) },
    );
    if (!queued) this.#inHand.delete(operation.id);
    else log.debug({ waiting: queue.waiting }, 'operation queued');
  }

  async #run(operation: AgentOperation, log: Logger) {
    const { connection, events } = this.#agent;
    const delivery = { backoff: this.#agent.backoff, signal: this.#agent.signal, log, connected: () => connection.connected };
    const told = (outcome: 'succeeded' | 'failed' | 'settled' | 'abandoned', error?: string) =>
      events.emit('operation', { id: operation.id, type: operation.type, outcome, ...(error ? { error } : {}) });

    const input = { operationId: operation.id };
    const started = await deliver('startOperation', async () => (await connection.request(START_OPERATION, { input })).startOperation, delivery);
    if (!started) {
      log.warn('not started before shutdown; the server replays it on the next connection');
      told('abandoned', 'shutdown before start');
      return;
    }
    if (started.kind === 'fatal') {
      this.#agent.fatal(started.message);
      return;
    }
    if (started.kind === 'finished') {
      log.info({ status: started.status }, 'the server already finished this operation; skipping it');
      this.#settled(operation);
      return;
    }
    if (started.kind === 'refused') {
      log.warn({ answer: started.type, err: started.message }, 'the server would not start this operation; skipping it');
      return;
    }

    log.info({ devices: operation.devices.nodes.map((d) => d.address) }, 'operation started');
    const begun = Date.now();
    const outcome = await carryOut(this.#agent.backend, operation);
    const durationMs = Date.now() - begun;
    if (outcome.succeeded) log.info({ durationMs }, 'operation done on the host');
    else log.warn({ durationMs, err: outcome.error }, 'operation failed on the host');

    // The outcome carries the devices' new drivers, so no inventory report has to follow it.
    const observed = await this.#observe(operation, log);
    const completion = { ...input, ...outcome, ...(observed ? { devices: observed } : {}) };
    const answer = await deliver('completeOperation', async () => (await connection.request(COMPLETE_OPERATION, { input: completion })).completeOperation, delivery);
    if (!answer) {
      log.warn({ succeeded: outcome.succeeded }, 'outcome not reported before shutdown; the server replays the operation on the next connection or times it out');
      told('abandoned', 'shutdown before the outcome was reported');
      return;
    }
    if (answer.kind === 'fatal') {
      this.#agent.fatal(answer.message);
      return;
    }
    if (answer.kind === 'finished') {
      // Usually a timeout on the server; the inventory report queued here tells it what really happened.
      log.warn({ status: answer.status }, 'the server had already finished this operation (timed out?); re-reporting inventory');
      this.#settled(operation);
      return;
    }
    if (answer.kind === 'refused') log.error({ answer: answer.type, err: answer.message }, 'the server refused the outcome');
    else {
      log.info({ succeeded: outcome.succeeded }, 'outcome reported');
      told(outcome.succeeded ? 'succeeded' : 'failed', outcome.error);
    }
    // A failure may have left the host half-way (a domain defined but not started...), and an
    // outcome without the devices' state leaves the server guessing: a full report settles both.
    if (!outcome.succeeded || (operation.devices.nodes.length > 0 && !observed)) this.#queueInventory(`after ${operation.type}`);
  }

  /** The server had already finished the operation: a full report settles what the host really did. */
  #settled(operation: AgentOperation) {
    this.#agent.events.emit('operation', { id: operation.id, type: operation.type, outcome: 'settled' });
    this.#queueInventory('operation settled by the server');
  }

  /** The operation's devices as the host sees them now; null when it has none or they cannot be read. */
  async #observe(operation: AgentOperation, log: Logger): Promise<ObservedDevice[] | null> {
    if (operation.devices.nodes.length === 0) return null;
    try {
      return await this.#agent.backend.observe(operation.devices.nodes);
    } catch (error) {
      log.warn({ err: errorMessage(error) }, 'could not read the devices after the operation; an inventory report follows the outcome');
      return null;
    }
  }
}
