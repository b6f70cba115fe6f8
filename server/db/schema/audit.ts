import { sql } from 'drizzle-orm';
import { bigserial, index, jsonb, text } from 'drizzle-orm/pg-core';
import { pgTable } from './table.ts';
import { happenedAt } from './columns.ts';

/** Every state-changing call, allowed or refused: who, what, on what, and how it ended. */
export const auditLog = pgTable(
  'audit_log',
  {
    id: bigserial({ mode: 'number' }).primaryKey(),
    at: happenedAt(),
    actor: text().notNull(),
    action: text().notNull(),
    /** Global IDs of what the call named (device, VM, host, plan...). */
    targets: text().array().notNull().default(sql`'{}'`),
    /** "OK", or the typename of the error it was refused with. */
    outcome: text().notNull(),
    /** The call's input with secrets removed. */
    details: jsonb().notNull(),
  },
  (t) => [index('audit_log_at_idx').on(t.at), index('audit_log_actor_idx').on(t.actor, t.at)],
);
