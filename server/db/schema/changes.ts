import { sql } from 'drizzle-orm';
import { bigint, boolean, check, index, jsonb, text } from 'drizzle-orm/pg-core';
import { pgTable } from './table.ts';
import { happenedAt } from './columns.ts';

/**
 * The durable change log (an outbox): one row per announced change, written in the transaction
 * that made it. Sequences are handed out in commit order (see server/live/change-log.ts), so a
 * reader that has seen sequence N has seen everything committed before it.
 */
export const changeLog = pgTable(
  'change_log',
  {
    seq: bigint({ mode: 'number' }).primaryKey().generatedAlwaysAsIdentity(),
    topic: text().notNull(),
    /** The topic's payload (server/pubsub.ts): IDs and scopes, never row data. */
    payload: jsonb().notNull(),
    at: happenedAt(),
  },
  (t) => [index('change_log_at_idx').on(t.at)],
);

/** How far the log has been pruned: a cursor at or after `prunedThrough` can still be resumed. */
export const changeLogHorizon = pgTable(
  'change_log_horizon',
  {
    singleton: boolean().primaryKey().default(true),
    prunedThrough: bigint({ mode: 'number' }).notNull().default(0),
  },
  (t) => [check('change_log_horizon_singleton', sql`${t.singleton}`)],
);
