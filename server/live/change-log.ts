import { and, asc, desc, eq, gt, lt, lte, max, sql, type SQL, type SQLWrapper, type WithSubquery } from 'drizzle-orm';
import type { Db, Queryable, Tx } from '../db/client.ts';
import { changeLog, changeLogHorizon } from '../db/schema/index.ts';
import type { ChangeMessage, Topic, Topics } from '../pubsub.ts';

/** Any constant will do: it names the lock that puts log sequences in commit order. */
const CHANGE_LOG_LOCK = 7_461_223_901;

/** The lock as a one-row FROM item, taken before the log rows it is joined with are inserted. */
const ORDERED = sql`(select pg_advisory_xact_lock(${CHANGE_LOG_LOCK})) as ordered`;

export interface LoggedChange {
  seq: number;
  /** When it was logged, in its transaction: the change feed's lag is measured from it. */
  at: Date;
  message: ChangeMessage;
}

/**
 * The change log's insert of `messages`, in order, under a transaction-scoped advisory lock
 * held until commit, so sequences are handed out in commit order: a reader that has seen N
 * can never later find a smaller one committing. Only the short tail of writing transactions
 * is serialised. Listening processes are woken by the log's own trigger (migrations), once
 * per statement.
 */
function changeLogInsert(messages: readonly ChangeMessage[]): SQL {
  return sql`insert into ${changeLog} (topic, payload)
    select entry.topic, entry.payload
    from ${ORDERED},
      rows from (jsonb_to_recordset(${JSON.stringify(messages)}::jsonb) as (topic text, payload jsonb)) with ordinality as entry(topic, payload, n)
    order by entry.n`;
}

/** Appends a transaction's changes to the log, in one statement; see changeLogInsert. */
export async function appendToChangeLog(tx: Tx, messages: readonly ChangeMessage[]) {
  if (messages.length === 0) return;
  await tx.execute(changeLogInsert(messages));
}

/**
 * The same append as a common table expression, for a transaction's last write to carry: the
 * changes reach the log without a statement of their own. PostgreSQL runs a data-modifying
 * CTE whether or not the statement reads it.
 */
export function changeLogWrite(tx: Tx, messages: readonly ChangeMessage[]): WithSubquery {
  return tx.$with('change_log_appended', {}).as(changeLogInsert(messages));
}

/**
 * A common table expression logging one change under `topic` for each row of `rows`, another
 * CTE of the same statement (an UPDATE ... RETURNING, say), with the payload built from its
 * columns: the write and its change in one autocommitted statement.
 */
export function changeLogOfRows<T extends Topic>(db: Queryable, topic: T, rows: WithSubquery, payload: { [K in keyof Topics[T]]-?: SQLWrapper }): WithSubquery {
  const fields = Object.entries(payload).map(([key, value]) => sql`${key}::text, ${value}`);
  return db.$with('change_log_appended', {}).as(sql`insert into ${changeLog} (topic, payload)
    select ${topic}, jsonb_build_object(${sql.join(fields, sql`, `)})
    from ${ORDERED}, ${rows}`);
}

/**
 * Inserts one row and logs it under `topic`, with the row's returned columns as the payload,
 * in one statement run on its own (autocommit): no BEGIN and COMMIT round trips. The advisory
 * lock is taken before the log row, as in changeLogInsert, and held to the statement's commit.
 */
export async function insertAndLog<T extends Topic>(db: Queryable, topic: T, insert: { getSQL(): SQL; execute(): Promise<Topics[T][]> }) {
  await db.execute(sql`
    with inserted as (${insert.getSQL()})
    insert into ${changeLog} (topic, payload)
    select ${topic}, to_jsonb(inserted) from ${ORDERED}, inserted`);
}

// Every topic, exhaustively: the compiler fails here when one is added to pubsub.ts.
const TOPICS: Record<Topic, true> = {
  'plan:changed': true,
  'credential:revoked': true,
  'audit:logged': true,
  'device:changed': true,
  'host:changed': true,
  'vm:changed': true,
  'operation:changed': true,
};

/** Rows are written only by appendToChangeLog from a ChangeMessage; this checks the shape every topic shares. */
function isChangeMessage(message: { topic: string; payload: unknown }): message is ChangeMessage {
  const { payload } = message;
  return Object.hasOwn(TOPICS, message.topic) && typeof payload === 'object' && payload !== null && 'id' in payload;
}

function logged(rows: { seq: number; at: Date; topic: string; payload: unknown }[]): LoggedChange[] {
  return rows.flatMap(({ seq, at, ...message }) => (isChangeMessage(message) ? [{ seq, at, message }] : []));
}

/** The sequence of the newest logged change (0 for an empty log). */
export async function changeLogHead(db: Queryable): Promise<number> {
  const [newest] = await db.select({ seq: changeLog.seq }).from(changeLog).orderBy(desc(changeLog.seq)).limit(1);
  if (newest) return newest.seq;
  const [horizon] = await db.select({ prunedThrough: changeLogHorizon.prunedThrough }).from(changeLogHorizon);
  return horizon?.prunedThrough ?? 0;
}

/** Changes after `seq`, oldest first, at most `limit`. */
export async function changesAfter(db: Queryable, seq: number, limit: number): Promise<LoggedChange[]> {
  const rows = await db.select().from(changeLog).where(gt(changeLog.seq, seq)).orderBy(asc(changeLog.seq)).limit(limit);
  return logged(rows);
}

/** The newest change of each entity of `topic` in (after, through], oldest first: what a resuming subscriber replays. */
export async function latestChangesPerEntity(db: Queryable, topic: Topic, after: number, through: number): Promise<LoggedChange[]> {
  const rows = await db
    .selectDistinctOn([sql`${changeLog.payload}->>'id'`], { seq: changeLog.seq, at: changeLog.at, topic: changeLog.topic, payload: changeLog.payload })
    .from(changeLog)
    .where(and(eq(changeLog.topic, topic), gt(changeLog.seq, after), lte(changeLog.seq, through)))
    .orderBy(sql`${changeLog.payload}->>'id'`, desc(changeLog.seq));
  return logged(rows).sort((a, b) => a.seq - b.seq);
}

/** The newest sequence pruned from the log: a cursor before it can no longer be resumed. */
export async function changeLogHorizonSeq(db: Queryable): Promise<number> {
  const [horizon] = await db.select({ prunedThrough: changeLogHorizon.prunedThrough }).from(changeLogHorizon);
  return horizon?.prunedThrough ?? 0;
}

/** Retention is counted in hours: pruning once a minute keeps the log within it, at no cost per sweep. */
export const CHANGE_LOG_PRUNE_INTERVAL_MS = 60_000;

export interface Retention {
  maxAgeMs: number;
  maxRows: number;
}

/** Deletes changes older than the retention or beyond its row count and moves the horizon past them; returns the new horizon, or 0 when nothing was pruned. */
export async function pruneChangeLog(db: Db, retention: Retention, now = new Date()): Promise<number> {
  const cutoff = new Date(now.getTime() - retention.maxAgeMs);
  return db.transaction(async (tx) => {
    const [aged] = await tx.select({ seq: max(changeLog.seq) }).from(changeLog).where(lt(changeLog.at, cutoff));
    const head = await changeLogHead(tx);
    const through = Math.max(aged?.seq ?? 0, head - retention.maxRows);
    if (through <= (await changeLogHorizonSeq(tx))) return 0;
    await tx.delete(changeLog).where(lte(changeLog.seq, through));
    await tx.update(changeLogHorizon).set({ prunedThrough: through });
    return through;
  });
}
