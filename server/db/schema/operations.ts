import { index, text, timestamp, uuid } from 'drizzle-orm/pg-core';
import { pgTable } from './table.ts';
import { operationStatus, operationType, vmStatus } from './enums.ts';
import { hosts } from './hosts.ts';
import { vms } from './vms.ts';

export const operations = pgTable(
  'operations',
  {
    id: uuid().primaryKey().defaultRandom(),
    type: operationType().notNull(),
    status: operationStatus().notNull().default('PENDING'),
    hostId: uuid()
      .notNull()
      .references(() => hosts.id, { onDelete: 'cascade' }),
    vmId: uuid().references(() => vms.id),
    // The VM's status before the operation, restored if it fails.
    vmFromStatus: vmStatus(),
    actor: text().notNull(),
    error: text(),
    createdAt: timestamp({ withTimezone: true }).notNull().defaultNow(),
    startedAt: timestamp({ withTimezone: true }),
    finishedAt: timestamp({ withTimezone: true }),
    // Past this instant an unfinished operation fails and its devices revert.
    deadlineAt: timestamp({ withTimezone: true }).notNull(),
  },
  (t) => [
    index('operations_created_idx').on(t.createdAt),
    index('operations_host_status_idx').on(t.hostId, t.status),
  ],
);
