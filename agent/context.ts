// What the parts of a running agent share: the connection, the backend, the work queue, and
// the agent's events and fate. AgentClient (agent/client.ts) makes one and hands it to its
// inventory reports (agent/inventory.ts) and operations (agent/operations.ts).

import type { EventEmitter } from 'node:events';
import type { Logger } from 'pino';
import type { OperationType } from '../protocol/agent.ts';
import type { HostBackend } from './backend.ts';
import type { ServerConnection } from './connection.ts';
import type { AgentFatalError } from './errors.ts';
import type { BackoffOptions } from './retry.ts';
import type { WorkQueue } from './work-queue.ts';

export interface OperationOutcomeEvent {
  id: string;
  type: OperationType;
  /** succeeded / failed: reported; settled: the server had already finished it; abandoned: given up at shutdown. */
  outcome: 'succeeded' | 'failed' | 'settled' | 'abandoned';
  error?: string;
}

export type AgentEvents = {
  connected: [];
  disconnected: [{ code: number | null; reason: string }];
  /** `vms`: the domains reported, null when the report said nothing about them. */
  inventory: [{ devices: number; vms: number | null; reason: string }];
  operation: [OperationOutcomeEvent];
  fatal: [AgentFatalError];
};

export interface AgentContext {
  readonly connection: ServerConnection;
  readonly backend: HostBackend;
  readonly log: Logger;
  /** Host work, one job at a time per resource (agent/work-queue.ts). */
  readonly queue: WorkQueue;
  readonly backoff: BackoffOptions;
  /** Aborted when the agent shuts down: retries give up. */
  readonly signal: AbortSignal;
  readonly events: EventEmitter<AgentEvents>;
  /** Whether the agent still takes work (false once stopping). */
  running(): boolean;
  /** Runs `action` after `ms`, unless the agent stops first. */
  later(ms: number, action: () => void): void;
  /** The server refuses this agent for good: it stops. */
  fatal(message: string): void;
}
