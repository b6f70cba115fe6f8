import { pgEnum } from 'drizzle-orm/pg-core';

// Status and kind values live in Postgres enums so the database rejects a value the code
// does not know, whichever process wrote it.

export const hostStatus = pgEnum('host_status', ['ONLINE', 'OFFLINE']);

export const deviceKind = pgEnum('device_kind', ['GPU', 'USB', 'NVME', 'PCI']);

export const deviceStatus = pgEnum('device_status', [
  'ATTACHED',
  'DETACHED',
  'ASSIGNED',
  'DETACHING',
  'ATTACHING',
  'ASSIGNING',
  'RELEASING',
  'MISSING',
]);

export const vmStatus = pgEnum('vm_status', [
  'PROVISIONING',
  'RUNNING',
  'STOPPED',
  'STARTING',
  'STOPPING',
  'DELETING',
  'DELETED',
  'FAILED',
]);

export const provisionType = pgEnum('provision_type', ['KVM', 'LXC', 'BARE_METAL']);

export const operationType = pgEnum('operation_type', [
  'DETACH',
  'ATTACH',
  'ASSIGN',
  'RELEASE',
  'PROVISION',
  'TEARDOWN',
  'START_VM',
  'STOP_VM',
]);

export const operationStatus = pgEnum('operation_status', ['PENDING', 'RUNNING', 'SUCCEEDED', 'FAILED']);

/** Ordered: each role can do everything the ones before it can. */
export const userRole = pgEnum('user_role', ['VIEWER', 'OPERATOR', 'ADMIN']);
