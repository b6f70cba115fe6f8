import { pgEnum } from 'drizzle-orm/pg-core';
import {
  DEVICE_KINDS,
  DEVICE_STATUSES,
  HOST_STATUSES,
  OPERATION_STATUSES,
  OPERATION_TYPES,
  PROVISION_TYPES,
  USER_ROLES,
  VM_STATUSES,
} from '../../../protocol/rules.ts';

// Status and kind values live in Postgres enums so the database rejects a value the code
// does not know, whichever process wrote it.

export const hostStatus = pgEnum('host_status', HOST_STATUSES);
export const deviceKind = pgEnum('device_kind', DEVICE_KINDS);
export const deviceStatus = pgEnum('device_status', DEVICE_STATUSES);
export const vmStatus = pgEnum('vm_status', VM_STATUSES);
export const provisionType = pgEnum('provision_type', PROVISION_TYPES);
export const operationType = pgEnum('operation_type', OPERATION_TYPES);
export const operationStatus = pgEnum('operation_status', OPERATION_STATUSES);
/** Ordered: each role can do everything the ones before it can. */
export const userRole = pgEnum('user_role', USER_ROLES);
