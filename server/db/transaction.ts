import type { WithSubquery } from 'drizzle-orm';
import { appendToChangeLog, changeLogWrite } from '../live/change-log.ts';
import type { ChangeMessage, CredentialRevoked, DeviceChange, HostChange, OperationChange, PlanChange, VmChange } from '../pubsub.ts';
import type { Db, Tx } from './client.ts';
import { isRetryableConflict } from './errors.ts';

/** Collects the changes of one transaction; `inTransaction` appends them to the change log before it commits. */
export class ChangeSet {
  readonly messages: ChangeMessage[] = [];
  #logged = 0;

  /**
   * The changes so far, as a write for the transaction's last statement to carry (none when
   * there are none): `inTransaction` then appends only what was recorded after, usually
   * nothing, and saves a round trip. Call it when building that statement, with every change
   * it makes already recorded.
   */
  loggedWith(tx: Tx): WithSubquery[] {
    const pending = this.messages.slice(this.#logged);
    this.#logged = this.messages.length;
    return pending.length > 0 ? [changeLogWrite(tx, pending)] : [];
  }

  /** Changes not yet carried by a statement. */
  get unlogged(): readonly ChangeMessage[] {
    return this.messages.slice(this.#logged);
  }

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
}

const transactionWaitObservers = new WeakMap<Db, (seconds: number) => void>();

/** Has `observe` told how long each transaction on `db` waited for a connection and its BEGIN (the metrics). */
export function observeTransactionWaits(db: Db, observe: (seconds: number) => void) {
  transactionWaitObservers.set(db, observe);
}

/**
 * Runs `work` in one transaction and logs its changes in that same transaction, so they are
 * announced when, and only when, it commits. Rows are locked in one order everywhere (see
 * domain/devices.ts), so deadlocks should not happen; if Postgres still reports one, the whole
 * transaction runs again, up to three times.
 */
export async function inTransaction<T>(db: Db, work: (tx: Tx, changes: ChangeSet) => Promise<T>): Promise<T> {
  const observe = transactionWaitObservers.get(db);
  for (let attempt = 1; ; attempt++) {
    const asked = performance.now();
    try {
      return await db.transaction(async (tx) => {
        observe?.((performance.now() - asked) / 1000);
        const changes = new ChangeSet();
        const result = await work(tx, changes);
        await appendToChangeLog(tx, changes.unlogged);
        return result;
      });
    } catch (error) {
      if (attempt >= 3 || !isRetryableConflict(error)) throw error;
    }
  }
}
