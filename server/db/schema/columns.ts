import { sql } from 'drizzle-orm';
import { timestamp } from 'drizzle-orm/pg-core';

/**
 * When an event happened: the time of its statement (clock_timestamp()), not of its
 * transaction's start (now()), so the events one transaction writes keep their order in time.
 */
export const happenedAt = () => timestamp({ withTimezone: true }).notNull().default(sql`clock_timestamp()`);
