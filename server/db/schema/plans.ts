import { sql } from 'drizzle-orm';
import { check, integer, text, timestamp, uuid } from 'drizzle-orm/pg-core';
import { pgTable } from './table.ts';
import { provisionType } from './enums.ts';
import { within } from './checks.ts';
import { LABEL_MAX_LENGTH, PLAN_LIMITS } from '../../../protocol/rules.ts';

export const servicePlans = pgTable(
  'service_plans',
  {
    id: uuid().primaryKey().defaultRandom(),
    name: text().notNull().unique(),
    provisionType: provisionType().notNull(),
    cores: integer().notNull(),
    memoryMb: integer().notNull(),
    diskGb: integer().notNull(),
    gpuCount: integer().notNull().default(0),
    // Optional GPU model filter; both null means "any GPU".
    gpuVendorId: text(),
    gpuProductId: text(),
    createdAt: timestamp({ withTimezone: true }).notNull().defaultNow(),
  },
  (t) => [
    check('service_plans_name_length', within(sql`char_length(${t.name})`, { min: 1, max: LABEL_MAX_LENGTH })),
    check('service_plans_cores_range', within(t.cores, PLAN_LIMITS.cores)),
    check('service_plans_memory_range', within(t.memoryMb, PLAN_LIMITS.memoryMb)),
    check('service_plans_disk_range', within(t.diskGb, PLAN_LIMITS.diskGb)),
    check('service_plans_gpu_count_range', within(t.gpuCount, PLAN_LIMITS.gpuCount)),
    check('service_plans_gpus_only_for_kvm', sql`${t.gpuCount} = 0 or ${t.provisionType} = 'KVM'`),
    check('service_plans_gpu_product_needs_vendor', sql`${t.gpuProductId} is null or ${t.gpuVendorId} is not null`),
  ],
);
