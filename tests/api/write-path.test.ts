import { randomUUID } from 'node:crypto';
import { encodeGlobalID } from '@pothos/plugin-relay';
import { COMPLETE_OPERATION, START_OPERATION } from '../../protocol/agent.ts';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { eq, sql } from 'drizzle-orm';
import { operations } from '../../server/db/schema/index.ts';
import postgres from 'postgres';
import { provisionVm } from '../../server/domain/vms.ts';
import { assignDevice, detachDevice } from '../../server/domain/devices.ts';
import { completeOperation, markOperationRunning } from '../../server/domain/operations.ts';
import { NotFoundError, OperationFinishedError } from '../../server/domain/errors.ts';
import { changeLogHead, changesAfter } from '../../server/live/change-log.ts';
import { graphql, type ResultOf } from '../../protocol/graphql.ts';
import { eventually, type Subscription } from '../support/client.ts';
import { Seed } from '../support/seed.ts';
import { startTestServer, type TestServer } from '../support/server.ts';
import { NO_TIMERS, StatementLog } from '../support/statements.ts';
import { queryRows } from '../support/snapshot.ts';

// The write path: a provision locks only the GPUs it takes, and provisions, detaches and
// assignments cost a few statements whatever the size of the pool.

const HOUR = 60 * 60 * 1000;
const PROVISION = graphql(`mutation($input: ProvisionVmInput!) {
  provisionVm(input: $input) {
    __typename
    ... on VmOperationSuccess { vm { id host { name } } devices { id } }
    ... on NoCapacityError { free { hostName freeGpus } }
    ... on Error { message }
  }
}`);
const PROVISION_ANSWER = graphql(`mutation($input: ProvisionVmInput!) { provisionVm(input: $input) { ... on VmOperationSuccess { vm { id name status } devices { id address status } } } }`);

let server: TestServer;
let seed: Seed;
const log = new StatementLog();

beforeAll(async () => {
  server = await startTestServer({
    // No timers add statements while they are counted; agents never answer, so nothing settles meanwhile.
    config: NO_TIMERS,
    onQuery: log.onQuery,
  });
  seed = new Seed(server.client, server.url);
});
afterAll(() => server.stop());

const services = () => ({ db: server.app.database.db, actor: 'user:test', operationTimeoutMs: HOUR, operationQueueTimeoutMs: HOUR });
const rawId = (globalId: string) => Buffer.from(globalId, 'base64').toString().split(':')[1]!;

/** A cluster of `hosts` hosts with `gpus` free GPUs each, whose agents have reported and gone quiet. */
async function pool(name: string, hosts: number, gpus: number) {
  const cluster = await seed.cluster(name);
  const made = [];
  for (let i = 0; i < hosts; i++) {
    const host = await cluster.host({ name: `${name}-${i}`, gpus, usb: 1, numaNodes: 2 });
    host.agent.respond = () => 'hold';
    made.push(host);
  }
  return { clusterId: rawId(cluster.id), globalClusterId: cluster.id, hosts: made };
}

/**
 * The statements `work` sends. The change feed runs beside it, woken by the previous commit:
 * its reads of the log, and of the rows a change names by ID without a lock, are left out.
 */
async function statementsOf(work: () => Promise<unknown>) {
  const statements = await log.during(work);
  const feedRead = (statement: string) =>
    /^\s*select\b/i.test(statement) && (/\bfrom "change_log"/i.test(statement) || (/"id" in \(\$/.test(statement) && !/\bfor (share|no key update)\b/i.test(statement)));
  return statements.filter((statement) => !feedRead(statement));
}

describe('provisioning locks only the GPUs it takes', () => {
  it('16 concurrent provisions for 8 free GPUs on 2 hosts: 8 succeed, 8 get NoCapacityError, and no GPU is held twice', async () => {
    const { globalClusterId, hosts } = await pool('race', 2, 4);
    const { id: planId } = await seed.plan({ name: 'race-one', gpuCount: 1 });
    const results = await Promise.all(
      Array.from({ length: 16 }, (_, i) => server.client.data(PROVISION, { input: { name: `race-${i}`, planId, clusterId: globalClusterId } })),
    );
    const outcomes = results.map((r) => r.provisionVm.__typename);
    expect(outcomes.filter((t) => t === 'VmOperationSuccess')).toHaveLength(8);
    expect(outcomes.filter((t) => t === 'NoCapacityError')).toHaveLength(8);
    // The database agrees: every GPU of the cluster names one VM, each VM holds one GPU, and no GPU is in two provisions.
    const held = await queryRows<{ vm_id: string }>(
      server.app.database.db,
      sql`select d.vm_id from devices d join vms v on v.id = d.vm_id where v.name like 'race-%' and d.kind = 'GPU'`,
    );
    expect(held).toHaveLength(8);
    expect(new Set(held.map((row) => row.vm_id)).size).toBe(8);
    const twice = await queryRows(
      server.app.database.db,
      sql`select od.device_id from operation_devices od join operations o on o.id = od.operation_id
          where o.type = 'PROVISION' group by od.device_id having count(*) > 1`,
    );
    expect(twice).toEqual([]);
    for (const host of hosts) await host.agent.disconnect();
  }, 60_000);

  // Two transactions at once need two connections: PGlite has one, so this runs on PostgreSQL.
  it.runIf(process.env.DATABASE_URL)('a provision skips GPUs another transaction holds, and falls back to the next host, instead of waiting', async () => {
    const { globalClusterId, hosts } = await pool('held', 2, 2);
    const { id: planId } = await seed.plan({ name: 'held-duo', gpuCount: 2 });
    const other = postgres(server.database.databaseUrl!, { max: 1, onnotice: () => {} });
    try {
      // Another transaction has taken one GPU of each host but host held-0's second one.
      const reserved = await other.begin(async (holder) => {
        const locked = await holder<{ id: string; name: string }[]>`
          select d.id, h.name from devices d join hosts h on h.id = d.host_id
          where h.name in ('held-0', 'held-1') and d.kind = 'GPU' order by h.name, d.address limit 1 for no key update of d`;
        const { provisionVm: first } = await server.client.data(PROVISION, { input: { name: 'held-a', planId, clusterId: globalClusterId } });
        return { locked, first };
      });
      // held-0 had one GPU left: the provision did not wait for the holder but took both of held-1's.
      expect(reserved.locked.map((row) => row.name)).toEqual(['held-0']);
      expect(reserved.first).toMatchObject({ __typename: 'VmOperationSuccess', vm: { host: { name: 'held-1' } } });
      // The held GPU was never taken by the provision, and held-0's other GPU was given back.
      const gpus = await queryRows<{ name: string; status: string }>(
        server.app.database.db,
        sql`select h.name, d.status from devices d join hosts h on h.id = d.host_id where h.name like 'held-%' and d.kind = 'GPU' order by h.name, d.address`,
      );
      expect(gpus).toEqual([
        { name: 'held-0', status: 'DETACHED' },
        { name: 'held-0', status: 'DETACHED' },
        { name: 'held-1', status: 'ASSIGNING' },
        { name: 'held-1', status: 'ASSIGNING' },
      ]);
      const { provisionVm: second } = await server.client.data(PROVISION, { input: { name: 'held-b', planId, clusterId: globalClusterId } });
      expect(second).toMatchObject({ __typename: 'VmOperationSuccess', vm: { host: { name: 'held-0' } } });
    } finally {
      await other.end();
      for (const host of hosts) await host.agent.disconnect();
    }
  }, 60_000);

  it.runIf(process.env.DATABASE_URL)('a provision whose best hosts were all taken meanwhile still finds a GPU on any other host', async () => {
    // Nine hosts of one GPU each; another transaction holds the GPUs of the eight a provision reads first.
    const { globalClusterId, hosts } = await pool('beyond', 9, 1);
    const { id: planId } = await seed.plan({ name: 'beyond-one', gpuCount: 1 });
    const other = postgres(server.database.databaseUrl!, { max: 1, onnotice: () => {} });
    try {
      const { provisionVm } = await other.begin(async (holder) => {
        await holder`select d.id from devices d join hosts h on h.id = d.host_id
          where h.name like 'beyond-%' and h.name <> 'beyond-8' and d.kind = 'GPU' for no key update of d`;
        return server.client.data(PROVISION, { input: { name: 'beyond-vm', planId, clusterId: globalClusterId } });
      });
      expect(provisionVm).toMatchObject({ __typename: 'VmOperationSuccess', vm: { host: { name: 'beyond-8' } } });
    } finally {
      await other.end();
      for (const host of hosts) await host.agent.disconnect();
    }
  }, 60_000);
});

describe('write statements do not grow with the pool', () => {
  async function costs(name: string, hosts: number, gpus: number) {
    const { clusterId, hosts: made } = await pool(name, hosts, gpus);
    for (const host of made) await host.agent.disconnect();
    const [plan] = await queryRows<{ id: string }>(server.app.database.db, sql`select id from service_plans where name = 'count-one'`);
    const provisioned: { vm: { id: string; hostId: string }; operation: { id: string } }[] = [];
    const provision = await statementsOf(async () =>
      provisioned.push(await provisionVm(services(), { name: `${name}-vm`, planId: plan!.id, scope: { clusterId } })),
    );
    const { vm, operation } = provisioned[0]!;
    const [usb] = await queryRows<{ id: string }>(server.app.database.db, sql`select id from devices where host_id = ${vm.hostId} and kind = 'USB'`);
    const detach = await statementsOf(() => detachDevice(services(), usb!.id));
    // Assignment needs a running VM: its agent reports the provision done.
    await completeOperation(services(), vm.hostId, operation.id, { succeeded: true });
    const [gpu] = await queryRows<{ id: string }>(
      server.app.database.db,
      sql`select id from devices where host_id = ${vm.hostId} and kind = 'GPU' and status = 'DETACHED' order by address limit 1`,
    );
    const assign = await statementsOf(() => assignDevice(services(), gpu!.id, vm.id));
    return { provision, detach, assign };
  }

  it('provisionVm, detachDevice and assignDevice cost the same few statements with 8 free GPUs as with 64', async () => {
    await seed.plan({ name: 'count-one', gpuCount: 1 });
    const small = await costs('small', 2, 4);
    const large = await costs('large', 8, 8);
    expect(large.provision.length).toBe(small.provision.length);
    expect(large.detach.length).toBe(small.detach.length);
    expect(large.assign.length).toBe(small.assign.length);
    // Plan, candidate hosts, savepoint, the GPUs taken, the writes with their change log entries: BEGIN and COMMIT are the driver's.
    expect(large.provision.length, large.provision.join('\n---\n')).toBeLessThanOrEqual(5);
    // Host, device group, the writes with their change log entries.
    expect(large.detach.length, large.detach.join('\n---\n')).toBeLessThanOrEqual(3);
    expect(large.assign.length, large.assign.join('\n---\n')).toBeLessThanOrEqual(4);
    // No statement locks more than the rows it names: only the provision's GPU take has no ID, and it has a LIMIT.
    const locking = large.provision.filter((statement) => /for no key update/i.test(statement));
    expect(locking).toHaveLength(1);
    expect(locking[0]).toMatch(/limit \$\d+ for no key update skip locked/i);
  }, 60_000);
});

describe('mutation answers', () => {
  it("an answer that asks for its VM's and devices' names, addresses and statuses reads no row again", async () => {
    const { id: planId } = await seed.plan({ name: 'answer-one', gpuCount: 1 });
    const { globalClusterId, hosts } = await pool('answer', 1, 1);
    // No operation stream: its reads would run beside the ones counted.
    for (const host of hosts) await host.agent.disconnect();
    let answer: ResultOf<typeof PROVISION_ANSWER> | undefined;
    const statements = await log.during(async () => {
      answer = await server.client.data(PROVISION_ANSWER, { input: { name: 'answer-vm', planId, clusterId: globalClusterId } });
    });
    expect(answer?.provisionVm).toMatchObject({ vm: { name: 'answer-vm', status: 'PROVISIONING' }, devices: [{ status: 'ASSIGNING' }] });
    // A planned read of the answer's rows (plugin-drizzle's loader) names its table "d0".
    expect(statements.filter((statement) => /"d0"/.test(statement))).toEqual([]);
  });
});

describe("an agent's acknowledgement", () => {
  it("the agent's startOperation and completeOperation answers read nothing the mutation did not write", async () => {
    await seed.plan({ name: 'ack-doc', gpuCount: 0 });
    const { hosts } = await pool('ack-doc', 1, 1);
    const [plan] = await queryRows<{ id: string }>(server.app.database.db, sql`select id from service_plans where name = 'ack-doc'`);
    const host = hosts[0]!;
    const { operation } = await provisionVm(services(), { name: 'ack-doc-vm', planId: plan!.id, scope: { hostId: rawId(host.id) } });
    const operationId = encodeGlobalID('Operation', operation.id);
    // Delivered (and held) before counting: the stream reads the operation it hands over.
    await eventually(async () => host.agent.received.some((received) => received.id === operationId));
    // Over the agent's WebSocket, as agents send them: signed in once, when it connected.
    const answered = async (answer: Subscription<unknown>) => {
      await answer.next();
      answer.close();
    };
    // Every statement, the change feed's included: a planned re-read of the answer names its table "d0".
    const started = await log.during(() => answered(host.agent.client.subscribe(START_OPERATION, { input: { operationId } })));
    expect(started.filter((statement) => !/\bfrom "change_log"/.test(statement)), started.join('\n---\n')).toHaveLength(1);
    const completed = await log.during(() => answered(host.agent.client.subscribe(COMPLETE_OPERATION, { input: { operationId, succeeded: true } })));
    expect([...started, ...completed].filter((statement) => /"d0"/.test(statement))).toEqual([]);
  });

  it('startOperation moves PENDING to RUNNING and logs the change in one statement; a replay, a finished or a foreign operation is told apart', async () => {
    await seed.plan({ name: 'ack-one', gpuCount: 1 });
    const { clusterId } = await pool('ack', 1, 1);
    const [plan] = await queryRows<{ id: string }>(server.app.database.db, sql`select id from service_plans where name = 'ack-one'`);
    const { vm, operation } = await provisionVm(services(), { name: 'ack-vm', planId: plan!.id, scope: { clusterId } });
    const { db } = server.app.database;
    const head = await changeLogHead(db);

    const statements = await statementsOf(() => markOperationRunning(services(), vm.hostId, operation.id));
    expect(statements, statements.join('\n---\n')).toHaveLength(1);
    expect(statements[0]).toMatch(/update "operations"[\s\S]*insert into "change_log"/);
    expect((await changesAfter(db, head, 10)).map((change) => change.message)).toMatchObject([
      { topic: 'operation:changed', payload: { id: operation.id, hostId: vm.hostId, vmId: vm.id, status: 'RUNNING' } },
    ]);

    const [running] = await db.select({ startedAt: operations.startedAt }).from(operations).where(eq(operations.id, operation.id));
    const replay = await markOperationRunning(services(), vm.hostId, operation.id);
    expect({ status: replay.status, startedAt: replay.startedAt }).toEqual({ status: 'RUNNING', startedAt: running!.startedAt });
    // Another host's operation is unknown to this host's agent.
    await expect(markOperationRunning(services(), randomUUID(), operation.id)).rejects.toBeInstanceOf(NotFoundError);
    await completeOperation(services(), vm.hostId, operation.id, { succeeded: true });
    await expect(markOperationRunning(services(), vm.hostId, operation.id)).rejects.toBeInstanceOf(OperationFinishedError);
  });
});
