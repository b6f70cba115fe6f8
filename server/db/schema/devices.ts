import { sql } from 'drizzle-orm';
import { bigserial, check, foreignKey, index, integer, text, timestamp, unique, uuid } from 'drizzle-orm/pg-core';
import { pgTable } from './table.ts';
import { happenedAt } from './columns.ts';
import { deviceKind, deviceStatus } from './enums.ts';
import { hosts } from './hosts.ts';
import { operations } from './operations.ts';
import { vms } from './vms.ts';
import { matches, oneOf } from './checks.ts';
import { hexPattern, PCI_IDENTITY_DIGITS, PCI_IDENTITY_FIELDS, VM_HOLDING_DEVICE_STATUSES } from '../../../protocol/rules.ts';

export const devices = pgTable(
  'devices',
  {
    id: uuid().primaryKey().defaultRandom(),
    hostId: uuid()
      .notNull()
      .references(() => hosts.id, { onDelete: 'cascade' }),
    kind: deviceKind().notNull(),
    address: text().notNull(),
    vendorId: text().notNull(),
    productId: text().notNull(),
    vendorName: text(),
    productName: text(),
    // PCI configuration space as the host read it; null for USB devices and older agents.
    classCode: text(),
    subsystemVendorId: text(),
    subsystemProductId: text(),
    revision: text(),
    serial: text(),
    iommuGroup: integer(),
    numaNode: integer(),
    driver: text(),
    // What on the host holds it (a mounted filesystem, swap, the default-route NIC), as its agent
    // last reported; null when the host does not use it. Detach is refused while it is set.
    inUse: text(),
    status: deviceStatus().notNull(),
    // One column, so a device can never be held by two VMs at once.
    vmId: uuid(),
    updatedAt: timestamp({ withTimezone: true }).notNull().defaultNow(),
  },
  (t) => [
    unique('devices_host_address_unique').on(t.hostId, t.address),
    // The VM must live on the device's host: enforced by the database, not only by code.
    foreignKey({ name: 'devices_vm_same_host_fk', columns: [t.vmId, t.hostId], foreignColumns: [vms.id, vms.hostId] }),
    check('devices_vm_matches_status', sql`(${oneOf(t.status, VM_HOLDING_DEVICE_STATUSES)}) = (${t.vmId} is not null)`),
    check(
      'devices_pci_identity_hex',
      sql.join(
        PCI_IDENTITY_FIELDS.map((field) => matches(t[field], hexPattern(PCI_IDENTITY_DIGITS[field]))),
        sql` and `,
      ),
    ),
    index('devices_vm_idx').on(t.vmId),
    index('devices_status_kind_idx').on(t.status, t.kind),
    // Whether any host has reported a model: a plan's GPU model warning (domain/plans.ts).
    index('devices_model_idx').on(t.vendorId, t.productId, t.kind),
  ],
);

/** Append-only history of every status change of a device. */
export const deviceEvents = pgTable(
  'device_events',
  {
    id: bigserial({ mode: 'number' }).primaryKey(),
    deviceId: uuid()
      .notNull()
      .references(() => devices.id, { onDelete: 'cascade' }),
    fromStatus: deviceStatus(),
    toStatus: deviceStatus().notNull(),
    vmId: uuid().references(() => vms.id),
    operationId: uuid().references(() => operations.id),
    actor: text().notNull(),
    note: text(),
    at: happenedAt(),
  },
  (t) => [index('device_events_device_idx').on(t.deviceId, t.at)],
);
