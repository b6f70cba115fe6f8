import { sql } from 'drizzle-orm';
import { check, index, integer, text, timestamp, unique, uniqueIndex, uuid } from 'drizzle-orm/pg-core';
import { pgTable } from './table.ts';
import { vmStatus } from './enums.ts';
import { hosts } from './hosts.ts';
import { servicePlans } from './plans.ts';
import { matches, matchesNot } from './checks.ts';
import { ALL_DIGITS_PATTERN, VM_NAME_PATTERN } from '../../../protocol/rules.ts';

export const vms = pgTable(
  'vms',
  {
    id: uuid().primaryKey().defaultRandom(),
    name: text().notNull(),
    hostId: uuid()
      .notNull()
      .references(() => hosts.id, { onDelete: 'restrict' }),
    planId: uuid().references(() => servicePlans.id, { onDelete: 'restrict' }),
    cores: integer().notNull(),
    memoryMb: integer().notNull(),
    diskGb: integer().notNull(),
    status: vmStatus().notNull().default('PROVISIONING'),
    createdAt: timestamp({ withTimezone: true }).notNull().defaultNow(),
    deletedAt: timestamp({ withTimezone: true }),
  },
  (t) => [
    // Target of devices' (vm_id, host_id) foreign key: a device can only reference a VM on its own host.
    unique('vms_id_host_unique').on(t.id, t.hostId),
    // A deleted VM keeps its row for history but frees its name.
    uniqueIndex('vms_live_name_unique').on(t.name).where(sql`${t.status} <> 'DELETED'`),
    // What a host's live VMs take, summed by placement and by the vms_fit_host trigger on each provision.
    index('vms_live_host').on(t.hostId, t.memoryMb, t.cores).where(sql`${t.status} <> 'DELETED'`),
    check('vms_name_format', sql`${matches(t.name, VM_NAME_PATTERN)} and ${matchesNot(t.name, ALL_DIGITS_PATTERN)}`),
  ],
);
