import type { Db } from '../db/client.ts';

/** What a domain command needs from its caller: the database, who is acting, and policy. */
export interface Services {
  db: Db;
  /** "user:alice", "agent:gpu-node-1", "system:timeout"... recorded on operations and history. */
  actor: string;
  /** How long an operation may run once its agent has picked it up. */
  operationTimeoutMs: number;
  /** How long an operation may wait for its agent to pick it up. */
  operationQueueTimeoutMs: number;
}
