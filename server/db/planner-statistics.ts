import { sql } from 'drizzle-orm';
import type { Queryable } from './client.ts';

/**
 * New devices in one inventory report that make the planner's statistics worth refreshing at
 * once: a page of a host's devices with nested lists reads every device of the host for each
 * one it returns when the planner still believes the host has a handful (seconds at 4,096).
 */
export const ANALYZE_AFTER_NEW_DEVICES = 100;

/**
 * Refreshes the planner's statistics of the tables pages read, at once: PostgreSQL's autovacuum
 * would within a minute or so, and embedded PGlite has no autovacuum at all.
 */
export async function refreshPlannerStatistics(db: Queryable) {
  await db.execute(sql`analyze hosts, devices, vms`);
}
