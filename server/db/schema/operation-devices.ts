import { index, primaryKey, uuid } from 'drizzle-orm/pg-core';
import { pgTable } from './table.ts';
import { deviceStatus } from './enums.ts';
import { devices } from './devices.ts';
import { operations } from './operations.ts';

/** The devices an operation moves, with the status each had before, to revert on failure. */
export const operationDevices = pgTable(
  'operation_devices',
  {
    operationId: uuid()
      .notNull()
      .references(() => operations.id, { onDelete: 'cascade' }),
    deviceId: uuid()
      .notNull()
      .references(() => devices.id, { onDelete: 'cascade' }),
    fromStatus: deviceStatus().notNull(),
  },
  (t) => [primaryKey({ columns: [t.operationId, t.deviceId] }), index('operation_devices_device_idx').on(t.deviceId)],
);
