import { sql } from 'drizzle-orm';
import { check, integer, text, timestamp, uuid } from 'drizzle-orm/pg-core';
import { pgTable } from './table.ts';
import { provisionType } from './enums.ts';

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
    check('service_plans_name_length', sql`char_length(${t.name}) between 1 and 64`),
    check('service_plans_cores_range', sql`${t.cores} between 1 and 1024`),
    check('service_plans_memory_range', sql`${t.memoryMb} between 64 and 16777216`),
    check('service_plans_disk_range', sql`${t.diskGb} between 0 and 1048576`),
    check('service_plans_gpu_count_range', sql`${t.gpuCount} between 0 and 64`),
    check('service_plans_gpus_only_for_kvm', sql`${t.gpuCount} = 0 or ${t.provisionType} = 'KVM'`),
    check('service_plans_gpu_product_needs_vendor', sql`${t.gpuProductId} is null or ${t.gpuVendorId} is not null`),
  ],
);
