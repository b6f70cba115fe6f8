import { index, integer, text, timestamp } from 'drizzle-orm/pg-core';
import { pgTable } from './table.ts';

/**
 * Sign-in attempts counted per account and per client address (rate-limiter-flexible's drizzle
 * store): in the database, so every server process shares the counts.
 */
export const loginAttempts = pgTable(
  'login_attempts',
  {
    key: text().primaryKey(),
    points: integer().notNull(),
    expire: timestamp({ withTimezone: true }),
  },
  (t) => [index('login_attempts_expire_idx').on(t.expire)],
);
