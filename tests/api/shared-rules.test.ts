// The rules of protocol/rules.ts are the ones the database holds: its enums and CHECKs, as the
// migrations built them, agree with the constants and validators the server, console and agent use.

import { sql } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openDatabase, type Database } from '../../server/db/client.ts';
import {
  DEVICE_KINDS,
  DEVICE_STATUSES,
  hostNameProblem,
  HOST_STATUSES,
  OPERATION_STATUSES,
  OPERATION_TYPES,
  PLAN_LIMIT_FIELDS,
  PLAN_LIMITS,
  planProblems,
  PROVISION_TYPES,
  USER_ROLES,
  usernameProblem,
  VM_NAME_MAX_LENGTH,
  HOST_NAME_MAX_LENGTH,
  USERNAME_MAX_LENGTH,
  VM_STATUSES,
  vmNameProblem,
  type PlanLimitField,
} from '../../protocol/rules.ts';
import { createTestDatabase, type TestDatabase } from '../support/database.ts';
import { enumLabels, violatedBy } from '../support/constraints.ts';
import { queryRows } from '../support/snapshot.ts';

let database: TestDatabase;
let db: Database['db'];
let close: () => Promise<void>;
let hostId: string;

beforeAll(async () => {
  database = await createTestDatabase();
  const opened = await openDatabase({ databaseUrl: database.databaseUrl, dataDir: database.dataDir });
  db = opened.db;
  close = () => opened.close();
  // A host with room for any VM, so the vms_fit_host trigger lets every insert reach the CHECKs.
  const [host] = await queryRows<{ id: string }>(
    db,
    sql`with cluster as (insert into clusters (name) values ('rules') returning id)
      insert into hosts (cluster_id, name, token_hash, cpu_cores, memory_mb) select id, 'rules-host', 'x', 65536, 1000000000 from cluster returning id`,
  );
  hostId = host!.id;
});
afterAll(async () => {
  await close();
  await database.drop();
});

let serial = 0;
const fresh = (prefix: string) => `${prefix}-${++serial}`;

describe('the database enums', () => {
  it('hold exactly the value lists of protocol/rules.ts, in order', async () => {
    const lists: Record<string, readonly string[]> = {
      host_status: HOST_STATUSES,
      device_kind: DEVICE_KINDS,
      device_status: DEVICE_STATUSES,
      vm_status: VM_STATUSES,
      provision_type: PROVISION_TYPES,
      operation_type: OPERATION_TYPES,
      operation_status: OPERATION_STATUSES,
      user_role: USER_ROLES,
    };
    for (const [type, values] of Object.entries(lists)) expect(await enumLabels(db, type), type).toEqual([...values]);
  });
});

const PLAN_RANGE_CONSTRAINT = {
  cores: 'service_plans_cores_range',
  memoryMb: 'service_plans_memory_range',
  diskGb: 'service_plans_disk_range',
  gpuCount: 'service_plans_gpu_count_range',
} satisfies Record<PlanLimitField, string>;

describe('service plan limits', () => {
  const valid = { provisionType: 'KVM' as const, cores: 4, memoryMb: 8192, diskGb: 50, gpuCount: 0, gpuVendorId: null, gpuProductId: null };
  const insertPlan = (plan: typeof valid & { name: string }) =>
    db.execute(sql`insert into service_plans (name, provision_type, cores, memory_mb, disk_gb, gpu_count)
      values (${plan.name}, ${plan.provisionType}, ${plan.cores}, ${plan.memoryMb}, ${plan.diskGb}, ${plan.gpuCount})`);

  for (const field of PLAN_LIMIT_FIELDS) {
    const { min, max } = PLAN_LIMITS[field];
    it(`${field}: the ${PLAN_RANGE_CONSTRAINT[field]} CHECK refuses exactly what planProblems refuses, at both bounds`, async () => {
      for (const value of [min - 1, min, max, max + 1]) {
        const plan = { ...valid, name: fresh('plan'), [field]: value };
        const problem = planProblems(plan)[field];
        expect(await violatedBy(insertPlan(plan)), `${field} = ${value}`).toBe(problem ? PLAN_RANGE_CONSTRAINT[field] : 'nothing: the statement succeeded');
      }
    });
  }
});

/** Names at and around every edge of the name rules. */
const NAMES = (maxLength: number) => [
  'a',
  'kvm-07.lab_1',
  'a'.repeat(maxLength),
  'a'.repeat(maxLength + 1),
  '',
  '-leading-dash',
  '.hidden',
  'has space',
  '../etc',
  'Ünïcode',
  '42',
  '4a',
];

describe('names', () => {
  it('vms_name_format refuses exactly the VM names vmNameProblem refuses', async () => {
    for (const name of NAMES(VM_NAME_MAX_LENGTH)) {
      const insert = db.execute(sql`insert into vms (name, host_id, cores, memory_mb, disk_gb) values (${name}, ${hostId}, 1, 64, 0)`);
      expect(await violatedBy(insert), JSON.stringify(name)).toBe(vmNameProblem(name) ? 'vms_name_format' : 'nothing: the statement succeeded');
    }
  });

  it('hosts_name_format and clusters_name_format refuse exactly the names hostNameProblem refuses', async () => {
    for (const name of NAMES(HOST_NAME_MAX_LENGTH)) {
      const refused = hostNameProblem(name, 'Cluster') !== null;
      const cluster = db.execute(sql`insert into clusters (name) values (${name})`);
      expect(await violatedBy(cluster), JSON.stringify(name)).toBe(refused ? 'clusters_name_format' : 'nothing: the statement succeeded');
      const host = db.execute(sql`insert into hosts (cluster_id, name, token_hash) select cluster_id, ${name}, ${fresh('token')} from hosts where id = ${hostId}`);
      expect(await violatedBy(host), JSON.stringify(name)).toBe(refused ? 'hosts_name_format' : 'nothing: the statement succeeded');
    }
  });

  it('users_username_format refuses exactly the usernames usernameProblem refuses', async () => {
    for (const name of [...NAMES(USERNAME_MAX_LENGTH), 'Upper', 'ops.admin']) {
      const insert = db.execute(sql`insert into users (username, password_hash, role) values (${name}, 'x', 'VIEWER')`);
      expect(await violatedBy(insert), JSON.stringify(name)).toBe(usernameProblem(name) ? 'users_username_format' : 'nothing: the statement succeeded');
    }
  });
});
