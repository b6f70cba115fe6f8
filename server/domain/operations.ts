import { randomUUID } from 'node:crypto';
import { and, asc, eq, gt, inArray, lt, ne, or, sql, type SQL, type SQLWrapper, type WithSubquery } from 'drizzle-orm';
import type { Db, Tx } from '../db/client.ts';
import { deviceEvents, devices, operationDevices, operations } from '../db/schema/index.ts';
import { changeLogOfRows } from '../live/change-log.ts';
import { inTransaction, type ChangeSet } from '../db/transaction.ts';
import { ACTION_OF_OPERATION, begin } from './device-state.ts';
import { deviceStatusWrites, type DeviceRow } from './device-store.ts';
import { admissionRefusal } from '../db/errors.ts';
import { HostBusyError, NotFoundError, OperationFinishedError } from './errors.ts';
import type { Services } from './services.ts';
import { settleOperation, validateObserved, type Outcome } from './operation-settlement.ts';
import type { VmStatus } from './vm-state.ts';

export type OperationRow = typeof operations.$inferSelect;
export type OperationType = OperationRow['type'];

export interface NewOperation {
  type: OperationType;
  hostId: string;
  vm?: { id: string; fromStatus: VmStatus | null } | null;
  /** Devices the operation moves, locked by the caller; each enters its in-flight status. */
  devices: DeviceRow[];
  /** Names VMs in refusal messages. */
  vmNames?: Map<string, string>;
  /** The caller's own writes (a new VM, a VM's new status), run in the operation's statement. */
  alongside?: WithSubquery[];
}

/**
 * Queues an operation for the host's agent and moves its devices into their in-flight status,
 * in one statement. Every device is checked by the state machine before anything is written,
 * so a refusal of any one changes nothing.
 */
export async function queueOperation(
  tx: Tx,
  changes: ChangeSet,
  services: Services,
  spec: NewOperation,
): Promise<{ operation: OperationRow; devices: DeviceRow[] }> {
  const action = ACTION_OF_OPERATION[spec.type];
  const nextStatuses = action
    ? spec.devices.map((device) => begin(action, { ...device, vmName: device.vmId ? spec.vmNames?.get(device.vmId) : null }))
    : [];

  // The ID is chosen here so every write can name it: the operation, its devices, their new
  // statuses and history, and the caller's own writes (`alongside`) go in one statement.
  const operationId = randomUUID();
  const context = { actor: services.actor, operationId, vmId: spec.vm?.id ?? null };
  const { updates, history, rows: moved } = deviceStatusWrites(tx, changes, spec.devices.map((device, index) => ({ device, next: nextStatuses[index]! })), context);
  const writes = [...(spec.alongside ?? []), ...updates];
  if (spec.devices.length > 0) {
    const listed = spec.devices.map((device) => ({ operationId, deviceId: device.id, fromStatus: device.status }));
    writes.push(tx.$with('operation_devices_listed').as(tx.insert(operationDevices).values(listed)));
    writes.push(tx.$with('device_history').as(tx.insert(deviceEvents).values(history)));
  }
  const status: OperationRow['status'] = 'PENDING';
  changes.operation({ id: operationId, hostId: spec.hostId, vmId: spec.vm?.id ?? null, status });
  writes.push(...changes.loggedWith(tx));
  const [operation] = await tx
    .with(...writes)
    .insert(operations)
    .values({
      id: operationId,
      type: spec.type,
      status,
      hostId: spec.hostId,
      vmId: spec.vm?.id ?? null,
      vmFromStatus: spec.vm?.fromStatus ?? null,
      actor: services.actor,
      // Its run's clock starts when the agent picks it up (markOperationRunning); until then it may wait this long.
      // From created_at's own clock, so the two are exactly the queue timeout apart.
      deadlineAt: sql`now() + make_interval(secs => ${services.operationQueueTimeoutMs / 1000})`,
    })
    .returning()
    .catch((error: unknown) => {
      throw hostBusyOr(error);
    });
  return { operation: operation!, devices: moved };
}

/** A refusal by the admission trigger (the host's queue is full) as HostBusyError; any other error as it is. */
function hostBusyOr(error: unknown): unknown {
  const refusal = admissionRefusal(error);
  return refusal ? new HostBusyError(refusal.hostId, refusal.queued, refusal.limit) : error;
}

/** The operation if it is still under way; another host's is reported as unknown, so an agent learns nothing about other hosts. */
function unfinished(operation: OperationRow | undefined, operationId: string): OperationRow {
  if (!operation) throw new NotFoundError('Operation', operationId);
  if (operation.status === 'SUCCEEDED' || operation.status === 'FAILED') {
    throw new OperationFinishedError(operation.id, operation.status);
  }
  return operation;
}

/** The host's operation, locked, finished or not; undefined for another host's or none. */
async function lockAnyHostOperation(tx: Tx, hostId: string, operationId: string): Promise<OperationRow | undefined> {
  const [operation] = await tx
    .select()
    .from(operations)
    .where(and(eq(operations.id, operationId), eq(operations.hostId, hostId)))
    .for('no key update');
  return operation;
}

/**
 * The agent has picked the operation up: one autocommitted statement moves it from PENDING to
 * RUNNING and logs the change. Anything else (a replay of a running one, a finished one,
 * another host's) is told apart by a read, on that rare path only.
 */
export async function markOperationRunning(services: Services, hostId: string, operationId: string): Promise<OperationRow> {
  const { db } = services;
  // The clock restarts when the agent picks it up: a replay after a long disconnect gets its full time.
  const now = Date.now();
  const started = db.$with('started').as(
    db
      .update(operations)
      .set({ status: 'RUNNING', startedAt: new Date(now), deadlineAt: new Date(now + services.operationTimeoutMs) })
      .where(and(eq(operations.id, operationId), eq(operations.hostId, hostId), eq(operations.status, 'PENDING')))
      .returning(),
  );
  const logged = changeLogOfRows(db, 'operation:changed', started, { id: started.id, hostId: started.hostId, vmId: started.vmId, status: started.status });
  const [running] = await db.with(started, logged).select().from(started);
  if (running) return running;
  const [operation] = await db
    .select()
    .from(operations)
    .where(and(eq(operations.id, operationId), eq(operations.hostId, hostId)));
  return unfinished(operation, operationId);
}

/**
 * The agent reports how an operation of its own host ended. A success for one the server timed
 * out while it ran is applied after all when nothing has contradicted it since: no later
 * operation on its VM or devices, each still where the timeout put it back (else
 * OperationFinishedError, and the next inventory report settles the truth).
 */
export async function completeOperation(services: Services, hostId: string, operationId: string, outcome: Outcome) {
  validateObserved(outcome.devices ?? []);
  return inTransaction(services.db, async (tx, changes) => {
    const operation = await lockAnyHostOperation(tx, hostId, operationId);
    if (!timedOutRunning(operation) || !outcome.succeeded || (await touchedSince(tx, operation))) {
      return settleOperation(tx, changes, services.actor, unfinished(operation, operationId), outcome, 'reported');
    }
    return settleOperation(tx, changes, services.actor, operation, outcome, 'late');
  });
}

/** Failed by the sweep after its agent had picked it up (a queue timeout means the agent never did). */
function timedOutRunning(operation: OperationRow | undefined): operation is OperationRow {
  return operation?.status === 'FAILED' && operation.startedAt !== null && operation.finishedAt !== null && operation.finishedAt >= operation.deadlineAt;
}

/** Whether a later operation of the host names the operation's VM or any of its devices. */
async function touchedSince(tx: Tx, operation: OperationRow): Promise<boolean> {
  const theirDevices = tx.select({ deviceId: operationDevices.deviceId }).from(operationDevices).where(eq(operationDevices.operationId, operation.id));
  const later = tx
    .select({ id: operations.id })
    .from(operations)
    .leftJoin(operationDevices, eq(operationDevices.operationId, operations.id))
    .where(
      and(
        eq(operations.hostId, operation.hostId),
        ne(operations.id, operation.id),
        // Its own created_at, read in SQL: the row's microseconds do not survive a JavaScript Date.
        gt(operations.createdAt, tx.select({ at: operations.createdAt }).from(operations).where(eq(operations.id, operation.id))),
        or(operation.vmId ? eq(operations.vmId, operation.vmId) : undefined, inArray(operationDevices.deviceId, theirDevices)),
      ),
    )
    .limit(1);
  return (await later).length > 0;
}

/**
 * Fails operations past their deadline and reverts their devices; returns them as they ended. SKIP LOCKED lets several
 * server processes sweep at once without waiting on each other or failing one twice.
 */
export async function failExpiredOperations(db: Db, now = new Date()): Promise<OperationRow[]> {
  return inTransaction(db, async (tx, changes) => {
    const expired = await tx
      .select()
      .from(operations)
      .where(and(inArray(operations.status, ['PENDING', 'RUNNING']), lt(operations.deadlineAt, now)))
      .orderBy(asc(operations.createdAt))
      .limit(100)
      .for('no key update', { skipLocked: true });
    const failed: OperationRow[] = [];
    for (const operation of expired) {
      const since = operation.startedAt ?? operation.createdAt;
      const ms = operation.deadlineAt.getTime() - since.getTime();
      const waited = (ms / 1000).toFixed(ms < 10_000 ? 1 : 0);
      const error = operation.startedAt
        ? `Timed out after ${waited} s running without an answer from the host's agent; its late answer or the next inventory report settles the device state`
        : `The host's agent did not pick it up within ${waited} s (the queue timeout); nothing was done on the host`;
      failed.push(await settleOperation(tx, changes, 'system:timeout', operation, { succeeded: false, error }, 'timedOut'));
    }
    return failed;
  });
}

/**
 * A PENDING operation's place in its host's queue, as SQL of its row: 1 + the operations of the
 * same host still PENDING that were queued before it (the order agents pick them up in); null
 * for any other status.
 */
export function queuePositionOf(operation: { id: SQLWrapper; hostId: SQLWrapper; status: SQLWrapper; createdAt: SQLWrapper }): SQL<number | null> {
  return sql<number | null>`case when ${operation.status} = 'PENDING' then (
    select count(*)::int + 1 from ${operations} as ahead
    where ahead.host_id = ${operation.hostId} and ahead.status = 'PENDING'
      and (ahead.created_at, ahead.id) < (${operation.createdAt}, ${operation.id})) end`;
}

/** Unfinished operations of a host, oldest first: what an agent replays after reconnecting. */
export function unfinishedOperations(db: Db, hostId: string) {
  return db.query.operations.findMany({
    where: { hostId, status: { in: ['PENDING', 'RUNNING'] } },
    orderBy: { createdAt: 'asc', id: 'asc' },
  });
}

