// The write half of bench/compare.ts: clients that each provision a VM of one GPU, wait for
// the agent to bring it up, delete it and wait for the agent to tear it down, over and over;
// beside the floor, the same reservation as one SKIP LOCKED statement sent by the `postgres`
// driver straight to the database (no server, no agent), and its delete as one statement.
import postgres from 'postgres';
import type { TestClient } from '../../tests/support/client.ts';
import type { BenchDatabase } from '../support/database.ts';
import { percentile, sleep, sortedCopy } from '../support/stats.ts';
import type { StatusWatch } from './db-watch.ts';
import { graphql, type ResultOf } from '../../protocol/graphql.ts';

export interface CycleResult {
  provisions: number;
  perSecond: number;
  /** Latency of the provisioning call (the mutation, or the floor's statement), ms. */
  p50: number;
  p99: number;
  /** Provision, agent up, delete, agent down, ms. */
  cycleP50: number;
  /** From the provision's answer to the VM RUNNING (the agent's acknowledgement), ms. */
  upP50: number;
  /** From the deleteVm call to the VM DELETED, ms. */
  downP50: number;
  /** NoCapacityError answers (or empty reservations on the floor). */
  refused: number;
  errors: number;
  firstError: string | null;
}

const ACK_TIMEOUT_MS = 30_000;

class Tally {
  readonly latencies: number[] = [];
  readonly cycles: number[] = [];
  readonly up: number[] = [];
  readonly down: number[] = [];
  refused = 0;
  errors = 0;
  firstError: string | null = null;

  error(message: string) {
    this.errors++;
    this.firstError ??= message;
  }

  result(elapsedMs: number): CycleResult {
    const sorted = sortedCopy(this.latencies);
    const cycles = sortedCopy(this.cycles);
    return {
      provisions: sorted.length,
      perSecond: (1000 * sorted.length) / elapsedMs,
      p50: percentile(sorted, 50),
      p99: percentile(sorted, 99),
      cycleP50: percentile(cycles, 50),
      upP50: percentile(sortedCopy(this.up), 50),
      downP50: percentile(sortedCopy(this.down), 50),
      refused: this.refused,
      errors: this.errors,
      firstError: this.firstError,
    };
  }
}

/** Runs `clients` loops of `cycle` until `durationMs` has passed; each finishes its cycle. */
async function drive(clients: number, durationMs: number, cycle: (client: number, seq: number, measuring: () => boolean) => Promise<void>): Promise<number> {
  const started = performance.now();
  const deadline = started + durationMs;
  await Promise.all(
    Array.from({ length: clients }, async (_, client) => {
      for (let seq = 0; performance.now() < deadline; seq++) await cycle(client, seq, () => performance.now() < deadline);
    }),
  );
  return durationMs;
}

const PROVISION = graphql(`mutation BenchProvision($input: ProvisionVmInput!) { provisionVm(input: $input) { __typename ... on VmOperationSuccess { vm { id } } ... on Error { message } } }`);
const DELETE = graphql(`mutation BenchDelete($input: DeleteVmInput!) { deleteVm(input: $input) { __typename ... on VmOperationSuccess { vm { id } } ... on Error { message } } }`);

export async function passthruCycles(options: {
  client: TestClient;
  vms: StatusWatch;
  planId: string;
  clusterId: string;
  clients: number;
  durationMs: number;
  prefix: string;
}): Promise<CycleResult> {
  const tally = new Tally();
  const elapsed = await drive(options.clients, options.durationMs, async (client, seq, measuring) => {
    const name = `${options.prefix}-${client}-${seq}`;
    const started = performance.now();
    let result: ResultOf<typeof PROVISION>;
    try {
      result = await options.client.data(PROVISION, { input: { name, planId: options.planId, clusterId: options.clusterId } });
    } catch (error) {
      tally.error(error instanceof Error ? error.message : String(error));
      await sleep(50);
      return;
    }
    const took = performance.now() - started;
    const { provisionVm } = result;
    if (provisionVm.__typename === 'NoCapacityError') {
      tally.refused++;
      await sleep(5);
      return;
    }
    if (provisionVm.__typename !== 'VmOperationSuccess') {
      tally.error(`${provisionVm.__typename}: ${provisionVm.message}`);
      await sleep(50);
      return;
    }
    const counted = measuring();
    if (counted) tally.latencies.push(took);
    const up = await options.vms.until(name, ['RUNNING', 'FAILED'], ACK_TIMEOUT_MS);
    if (up !== 'RUNNING') tally.error(`VM ${name} ended ${up} instead of RUNNING`);
    const upAt = performance.now();
    const { deleteVm } = await options.client.data(DELETE, { input: { vmId: provisionVm.vm.id } });
    if (deleteVm.__typename !== 'VmOperationSuccess') tally.error(`deleteVm: ${deleteVm.__typename}: ${deleteVm.message}`);
    else if ((await options.vms.until(name, ['DELETED'], ACK_TIMEOUT_MS)) !== 'DELETED') tally.error(`VM ${name} was not torn down`);
    options.vms.forget(name);
    if (counted) {
      tally.up.push(upAt - started - took);
      tally.down.push(performance.now() - upAt);
      tally.cycles.push(performance.now() - started);
    }
  });
  return tally.result(elapsed);
}

/**
 * The floor's reservation: the first free GPU of the cluster's online hosts (NUMA order), the
 * VM, the device, the operation and its history in one statement.
 */
const FLOOR_RESERVE = `with gpu as (
    select d.id, d.host_id from devices d join hosts h on h.id = d.host_id
    where h.cluster_id = $1 and h.status = 'ONLINE' and d.kind = 'GPU' and d.status = 'DETACHED'
    order by h.name, d.numa_node, d.address limit 1 for no key update of d skip locked),
  vm as (insert into vms (name, host_id, plan_id, cores, memory_mb, disk_gb, status)
    select $2, gpu.host_id, $3, 8, 32768, 100, 'RUNNING' from gpu returning id, host_id),
  op as (insert into operations (type, status, host_id, vm_id, actor, deadline_at, finished_at)
    select 'PROVISION', 'SUCCEEDED', vm.host_id, vm.id, 'bench:floor', now() + interval '1 minute', now() from vm returning id),
  taken as (update devices d set status = 'ASSIGNED', vm_id = vm.id, updated_at = now() from gpu, vm where d.id = gpu.id returning d.id),
  moved as (insert into operation_devices (operation_id, device_id, from_status) select op.id, taken.id, 'DETACHED' from op, taken)
  insert into device_events (device_id, from_status, to_status, vm_id, operation_id, actor)
  select taken.id, 'DETACHED', 'ASSIGNED', vm.id, op.id, 'bench:floor' from taken, vm, op returning vm_id`;

const FLOOR_DELETE = `with gone as (update vms set status = 'DELETED', deleted_at = now() where id = $1 returning id),
  freed as (update devices set status = 'DETACHED', vm_id = null, updated_at = now() where vm_id = $1 returning id)
  insert into device_events (device_id, from_status, to_status, vm_id, actor)
  select freed.id, 'ASSIGNED', 'DETACHED', gone.id, 'bench:floor' from freed, gone`;

/** The floor's clients share one pool of `clients` connections, as the server's would. */
export async function floorCycles(options: { database: BenchDatabase; planId: string; clusterId: string; clients: number; durationMs: number; prefix: string }): Promise<CycleResult> {
  const sql = postgres(options.database.url, { max: options.clients, onnotice: () => {} });
  const tally = new Tally();
  const planUuid = uuidOf(options.planId);
  const clusterUuid = uuidOf(options.clusterId);
  try {
    const elapsed = await drive(options.clients, options.durationMs, async (client, seq, measuring) => {
      const name = `${options.prefix}-${client}-${seq}`;
      const started = performance.now();
      try {
        const rows = await sql.unsafe<{ vm_id: string }[]>(FLOOR_RESERVE, [clusterUuid, name, planUuid], { prepare: true });
        const took = performance.now() - started;
        const vmId = rows[0]?.vm_id;
        if (!vmId) {
          tally.refused++;
          await sleep(5);
          return;
        }
        if (measuring()) tally.latencies.push(took);
        await sql.unsafe(FLOOR_DELETE, [vmId], { prepare: true });
        if (measuring()) tally.cycles.push(performance.now() - started);
      } catch (error) {
        tally.error(error instanceof Error ? error.message : String(error));
        await sleep(50);
      }
    });
    return tally.result(elapsed);
  } finally {
    await sql.end({ timeout: 5 });
  }
}

/** The database ID inside a Relay global ID (base64 of "Type:id"). */
export function uuidOf(globalId: string): string {
  const decoded = Buffer.from(globalId, 'base64').toString('utf8');
  return decoded.slice(decoded.indexOf(':') + 1);
}
