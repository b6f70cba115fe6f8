import { createPubSub } from 'graphql-yoga';
import { sql } from 'drizzle-orm';
import type { Database, Db, Tx } from './db/client.ts';
import { NOTIFY_CHANNEL } from './db/client.ts';
import { isRetryableConflict } from './db/errors.ts';

// The one place topics and their payloads are declared. Payloads carry IDs, not rows:
// subscribers load the current row, so a late event never shows stale data.

export interface DeviceChange {
  id: string;
  hostId: string;
  /** The VM the device belonged to before and after the change, so a VM's view sees releases too. */
  vmIds: string[];
}
export interface HostChange {
  id: string;
}
export interface VmChange {
  id: string;
  hostId: string;
}
export interface OperationChange {
  id: string;
  hostId: string;
  vmId: string | null;
  status: string;
}

export interface PlanChange {
  id: string;
}
export interface CredentialRevoked {
  kind: 'session' | 'token' | 'host';
  id: string;
}
export interface AuditEntry {
  id: number;
  actor: string;
}

export type Topics = {
  'plan:changed': [PlanChange];
  'credential:revoked': [CredentialRevoked];
  'audit:logged': [AuditEntry];
  'device:changed': [DeviceChange];
  'host:changed': [HostChange];
  'vm:changed': [VmChange];
  'operation:changed': [OperationChange];
};

type Topic = keyof Topics;
type ChangeMessage = { [T in Topic]: { topic: T; payload: Topics[T][0] } }[Topic];

export type PubSub = ReturnType<typeof createPubSub<Topics>>;

export function createChangeBus(): PubSub {
  return createPubSub<Topics>();
}

/**
 * Collects the changes of one transaction. `flush` sends them with pg_notify inside that
 * transaction, so Postgres delivers them to every listening process only if it commits.
 */
export class ChangeSet {
  private readonly messages: ChangeMessage[] = [];

  device(change: DeviceChange) {
    this.messages.push({ topic: 'device:changed', payload: change });
  }
  host(change: HostChange) {
    this.messages.push({ topic: 'host:changed', payload: change });
  }
  vm(change: VmChange) {
    this.messages.push({ topic: 'vm:changed', payload: change });
  }
  operation(change: OperationChange) {
    this.messages.push({ topic: 'operation:changed', payload: change });
  }

  plan(change: PlanChange) {
    this.messages.push({ topic: 'plan:changed', payload: change });
  }
  /** Live connections using this credential are closed in every server process. */
  credentialRevoked(change: CredentialRevoked) {
    this.messages.push({ topic: 'credential:revoked', payload: change });
  }
  audit(change: AuditEntry) {
    this.messages.push({ topic: 'audit:logged', payload: change });
  }

  async flush(tx: Tx) {
    // NOTIFY payloads are limited to 8000 bytes; batches stay well below it.
    for (let start = 0; start < this.messages.length; start += 25) {
      const batch = JSON.stringify(this.messages.slice(start, start + 25));
      await tx.execute(sql`select pg_notify(${NOTIFY_CHANNEL}, ${batch})`);
    }
    this.messages.length = 0;
  }
}

/**
 * Runs `work` in one transaction and announces its changes when, and only when, it commits.
 * Rows are locked in one order everywhere (see domain/devices.ts), so deadlocks should not
 * happen; if Postgres still reports one, the whole transaction runs again, up to three times.
 */
export async function inTransaction<T>(db: Db, work: (tx: Tx, changes: ChangeSet) => Promise<T>): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await db.transaction(async (tx) => {
        const changes = new ChangeSet();
        const result = await work(tx, changes);
        await changes.flush(tx);
        return result;
      });
    } catch (error) {
      if (attempt >= 3 || !isRetryableConflict(error)) throw error;
    }
  }
}

/** Relays committed changes from Postgres (any server process) into this process's pubsub. */
export async function relayDatabaseChanges(database: Database, pubsub: PubSub): Promise<() => Promise<void>> {
  return database.listen((payload) => {
    for (const message of JSON.parse(payload) as ChangeMessage[]) {
      pubsub.publish(message.topic, message.payload as never);
    }
  });
}
