import { sql } from 'drizzle-orm';
import type { Db } from '../db/client.ts';
import { auditLog } from '../db/schema/index.ts';
import { insertAndLog } from '../live/change-log.ts';

export type AuditRow = typeof auditLog.$inferSelect;

const SECRET_KEY = /password|token|secret/i;

/** The call's arguments with every secret replaced, safe to keep and show. */
export function redact(value: unknown): unknown {
  if (Array.isArray(value)) return value.slice(0, 50).map(redact);
  if (value && typeof value === 'object' && !(value instanceof Date)) {
    return Object.fromEntries(
      Object.entries(value).map(([key, inner]) => [key, SECRET_KEY.test(key) ? '[redacted]' : redact(inner)]),
    );
  }
  return typeof value === 'string' && value.length > 256 ? `${value.slice(0, 256)}…` : value;
}

export interface AuditRecord {
  actor: string;
  action: string;
  targets: string[];
  outcome: string;
  details: unknown;
}

/** One statement: the entry and its audit:logged change, committed together. */
export async function recordAudit(db: Db, record: AuditRecord) {
  await insertAndLog(
    db,
    'audit:logged',
    db
      .insert(auditLog)
      .values({ ...record, targets: [...new Set(record.targets)].slice(0, 100), details: redact(record.details) as object })
      // The bigint itself, not drizzle's text cast of a mode-'number' bigserial: the payload's id is a number.
      .returning({ id: sql<number>`${auditLog.id}`, actor: auditLog.actor }),
  );
}
