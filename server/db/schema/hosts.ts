import { sql } from 'drizzle-orm';
import { boolean, check, integer, text, timestamp, uuid } from 'drizzle-orm/pg-core';
import { pgTable } from './table.ts';
import { hostStatus } from './enums.ts';
import { matches } from './checks.ts';
import { HOST_NAME_PATTERN } from '../../../protocol/rules.ts';

export const clusters = pgTable(
  'clusters',
  {
    id: uuid().primaryKey().defaultRandom(),
    name: text().notNull().unique(),
    createdAt: timestamp({ withTimezone: true }).notNull().defaultNow(),
  },
  (t) => [check('clusters_name_format', matches(t.name, HOST_NAME_PATTERN))],
);

export const hosts = pgTable(
  'hosts',
  {
    id: uuid().primaryKey().defaultRandom(),
    clusterId: uuid()
      .notNull()
      .references(() => clusters.id, { onDelete: 'restrict' }),
    name: text().notNull().unique(),
    status: hostStatus().notNull().default('OFFLINE'),
    lastSeenAt: timestamp({ withTimezone: true }),
    cpuCores: integer(),
    memoryMb: integer(),
    iommuEnabled: boolean().notNull().default(false),
    // sha256 of the agent's token; the token itself is shown once at enrollment.
    tokenHash: text().notNull().unique(),
    createdAt: timestamp({ withTimezone: true }).notNull().defaultNow(),
  },
  (t) => [check('hosts_name_format', matches(t.name, HOST_NAME_PATTERN))],
);
