import { and, asc, count, eq, getColumns, gte, inArray, lte, ne, notInArray, sql, type SQL } from 'drizzle-orm';
import type { Queryable, Tx } from '../db/client.ts';
import { devices, hosts, vms } from '../db/schema/index.ts';
import { rankHosts, type HostChoice, type NumaFree } from './allocation.ts';
import type { DeviceRow } from './device-store.ts';
import { TRANSITIONS } from './device-state.ts';
import { hasCoresAndMemory, shortOf, type HostFree } from './capacity.ts';
import type { PlanRow } from './plans.ts';

// Where a provision goes, on the write path: candidate hosts are read without a lock, then the
// plan's GPUs are taken on the best host with SKIP LOCKED, falling back to the next host. A
// provision locks only the GPUs it takes (and shares its host's lock), so provisions in one
// cluster run side by side; the database's row locks still hand each GPU to one of them.

/** No other function of the device's IOMMU group is held by a VM: VFIO passes a group to one VM. */
const groupUnheld = sql`not exists (select 1 from ${devices} as member where member.host_id = ${devices.hostId}
  and member.iommu_group = ${devices.iommuGroup} and member.id <> ${devices.id} and member.vm_id is not null)`;

/** Where a VM may go: every online host of a cluster, or one named host. */
export type Scope = { clusterId: string } | { hostId: string };

/** The devices a plan can take: its GPU model, in the status an assignment starts from, its IOMMU group free of other VMs. */
export function planGpus(plan: PlanRow): SQL[] {
  const conditions = [eq(devices.kind, 'GPU'), eq(devices.status, TRANSITIONS.ASSIGN.from), groupUnheld];
  if (plan.gpuVendorId) conditions.push(eq(devices.vendorId, plan.gpuVendorId));
  if (plan.gpuProductId) conditions.push(eq(devices.productId, plan.gpuProductId));
  return conditions;
}

export const scopeFilter = (scope: Scope) => ('hostId' in scope ? eq(hosts.id, scope.hostId) : eq(hosts.clusterId, scope.clusterId));

/** What a host's live VMs take, by one index-only scan of vms_live_host. */
const usedBy = (column: typeof vms.memoryMb | typeof vms.cores) =>
  sql<number>`coalesce((select sum(${column})::int from ${vms} where ${vms.hostId} = ${hosts.id} and ${vms.status} <> 'DELETED'), 0)`;

/**
 * What a host has left for more VMs: the memory (MiB) its agent reports and the cores
 * host_cores_allowed gives it (its CPUs times the CPU allocation ratio), less what its live VMs
 * take; null until the agent has reported them. The vms_fit_host trigger counts the same way.
 */
export const headroom = {
  memoryMb: sql<number | null>`(${hosts.memoryMb} - ${usedBy(vms.memoryMb)})`,
  cores: sql<number | null>`(host_cores_allowed(${hosts.cpuCores}) - ${usedBy(vms.cores)})`,
};

/** The host has the plan's cores and memory left (false while its agent has not reported them). */
export const roomFor = (plan: PlanRow) => and(gte(headroom.memoryMb, plan.memoryMb), gte(headroom.cores, plan.cores));

type Headroom = { memoryMb: number | null; cores: number | null };

/** Most memory left first, then most cores, then by name: VMs without GPUs spread over the hosts. */
function byHeadroom(a: Headroom & { hostName: string }, b: Headroom & { hostName: string }): number {
  const more = (x: number | null, y: number | null) => (y ?? -Infinity) - (x ?? -Infinity);
  return more(a.memoryMb, b.memoryMb) || more(a.cores, b.cores) || a.hostName.localeCompare(b.hostName);
}

export interface Candidates {
  /** Every host of the scope, with its status: the scope's own checks need offline ones too. */
  hosts: { hostId: string; hostName: string; online: boolean; nodes: NumaFree[]; headroom: Headroom }[];
  /** Online hosts that can take the plan, best first. */
  choices: HostChoice[];
  /** What each online host has free for the plan, and what it is short of, for a NoCapacityError. */
  freeByHost: HostFree[];
}

/** The scope's hosts with their matching free GPUs per NUMA node, in one statement and without a lock. */
export async function readCandidates(db: Queryable, plan: PlanRow, scope: Scope): Promise<Candidates> {
  const rows = await db
    .select({
      hostId: hosts.id,
      hostName: hosts.name,
      status: hosts.status,
      numaNode: devices.numaNode,
      free: count(devices.id),
      headroomMemoryMb: headroom.memoryMb,
      headroomCores: headroom.cores,
    })
    .from(hosts)
    .leftJoin(devices, and(eq(devices.hostId, hosts.id), ...planGpus(plan)))
    .where(scopeFilter(scope))
    .groupBy(hosts.id, devices.numaNode)
    .orderBy(asc(hosts.name));
  const byHost = new Map<string, Candidates['hosts'][number]>();
  for (const row of rows) {
    const host = byHost.get(row.hostId) ?? {
      hostId: row.hostId,
      hostName: row.hostName,
      online: row.status === 'ONLINE',
      nodes: [],
      headroom: { memoryMb: row.headroomMemoryMb, cores: row.headroomCores },
    };
    if (row.free > 0) host.nodes.push({ numaNode: row.numaNode, free: row.free });
    byHost.set(row.hostId, host);
  }
  const all = [...byHost.values()];
  const freeByHost = all
    .filter((host) => host.online)
    .map((host) => {
      const free = { freeGpus: host.nodes.reduce((sum, node) => sum + node.free, 0), freeCores: host.headroom.cores, freeMemoryMb: host.headroom.memoryMb };
      return { hostId: host.hostId, hostName: host.hostName, ...free, short: shortOf(plan, free) };
    });
  // Only hosts with the plan's cores and memory left; rankHosts then drops those without its GPUs.
  const roomy = new Set(freeByHost.filter(hasCoresAndMemory).map((host) => host.hostId));
  const online = all.filter((host) => roomy.has(host.hostId));
  const choices =
    plan.gpuCount === 0
      ? online
          .map((host) => ({ hostName: host.hostName, hostId: host.hostId, ...host.headroom }))
          .sort(byHeadroom)
          .map((host) => ({ hostId: host.hostId, hostName: host.hostName, numaOrder: [], numaNodesSpanned: 0, freeOnHost: 0 }))
      : rankHosts(online, plan.gpuCount);
  return { hosts: all, choices, freeByHost };
}

/** How many hosts a provision considers at most: the best, and the next ones to fall back to. */
export const CANDIDATE_HOSTS = 8;

/**
 * The best few online hosts of a cluster for a plan with GPUs, best first, with their free GPUs
 * per NUMA node: ranked in SQL (a node that fits the plan, then fewest free, then name) so the
 * rows read do not grow with the cluster, then exactly by rankHosts. Only hosts with the plan's
 * cores and memory left are ranked: counted for the hosts with enough GPUs, after the GPU count.
 * One statement, no lock.
 */
export async function readBestCandidates(db: Queryable, plan: PlanRow, scope: { clusterId: string }): Promise<HostChoice[]> {
  const perNode = db
    .select({ hostId: devices.hostId, numaNode: devices.numaNode, free: sql<number>`count(*)::int`.as('free') })
    .from(devices)
    .innerJoin(hosts, eq(hosts.id, devices.hostId))
    .where(and(scopeFilter(scope), eq(hosts.status, 'ONLINE'), ...planGpus(plan)))
    .groupBy(devices.hostId, devices.numaNode)
    .as('per_node');
  const perHost = db
    .select({
      hostId: perNode.hostId,
      numaNode: perNode.numaNode,
      free: perNode.free,
      total: sql<number>`(sum(${perNode.free}) over (partition by ${perNode.hostId}))::int`.as('total'),
      fits: sql<boolean>`max(${perNode.free}) over (partition by ${perNode.hostId}) >= ${plan.gpuCount}`.as('fits'),
    })
    .from(perNode)
    .as('per_host');
  const ranked = db
    .select({
      hostId: perHost.hostId,
      hostName: hosts.name,
      numaNode: perHost.numaNode,
      free: perHost.free,
      rank: sql<number>`(dense_rank() over (order by ${perHost.fits} desc, ${perHost.total}, ${hosts.name}))::int`.as('rank'),
    })
    .from(perHost)
    .innerJoin(hosts, eq(hosts.id, perHost.hostId))
    .where(and(gte(perHost.total, plan.gpuCount), roomFor(plan)))
    .as('ranked');
  const rows = await db.select().from(ranked).where(lte(ranked.rank, CANDIDATE_HOSTS)).orderBy(asc(ranked.rank));
  const byHost = new Map<string, { hostId: string; hostName: string; nodes: NumaFree[] }>();
  for (const row of rows) {
    const host = byHost.get(row.hostId) ?? { hostId: row.hostId, hostName: row.hostName, nodes: [] };
    host.nodes.push({ numaNode: row.numaNode, free: row.free });
    byHost.set(row.hostId, host);
  }
  return rankHosts([...byHost.values()], plan.gpuCount);
}

/** The host, locked FOR SHARE if it is still online (a heartbeat sweep cannot mark it offline under the provision). */
const onlineHost = (tx: Tx, hostId: string) =>
  tx
    .select({ id: hosts.id })
    .from(hosts)
    .where(and(eq(hosts.id, hostId), eq(hosts.status, 'ONLINE')))
    .for('share');

/**
 * Up to the plan's GPU count of matching free GPUs on one host, in NUMA order, locked in one
 * statement: the host FOR SHARE first (the lock order of devices.ts), then the GPUs FOR NO KEY
 * UPDATE, skipping any another provision has locked. Nothing if the host went offline.
 */
function takeOnHost(tx: Tx, plan: PlanRow, choice: HostChoice): Promise<(DeviceRow & { grouped: boolean })[]> {
  // Nodes the order does not name (GPUs freed since the read) come last.
  const nodeRank = sql`array_position(array[${sql.join(
    choice.numaOrder.map((node) => sql`${node ?? -1}`),
    sql`, `,
  )}]::int[], coalesce(${devices.numaNode}, -1))`;
  return tx
    .select({ ...getColumns(devices), grouped: hasGroupMates })
    .from(devices)
    .where(and(inArray(devices.hostId, onlineHost(tx, choice.hostId)), ...planGpus(plan)))
    .orderBy(sql`${nodeRank} nulls last`, asc(devices.id))
    .limit(plan.gpuCount)
    .for('no key update', { skipLocked: true });
}

/**
 * Whether another function (the GPU's audio, say) shares the device's IOMMU group. Qualified by
 * hand: in a select list drizzle names a column without its table, which here would be mate's.
 */
const hasGroupMates = sql<boolean>`exists (select 1 from ${devices} as mate where mate.host_id = ${devices}.host_id
  and mate.iommu_group = ${devices}.iommu_group and mate.id <> ${devices}.id and mate.kind <> 'USB')`;

/**
 * The other functions of the taken GPUs' IOMMU groups, locked: VFIO passes a group whole, so a
 * provision takes a GPU's audio function with it. They wait for no other provision (one that
 * held them would hold their GPU too, which this one has locked). Only read when a taken GPU
 * has mates, so GPUs alone in their groups cost no statement.
 */
async function takeGroupMates(tx: Tx, hostId: string, gpus: (DeviceRow & { grouped: boolean })[]): Promise<DeviceRow[]> {
  const groups = [...new Set(gpus.flatMap((gpu) => (gpu.grouped && gpu.iommuGroup !== null ? [gpu.iommuGroup] : [])))];
  if (groups.length === 0) return [];
  return tx
    .select()
    .from(devices)
    .where(
      and(
        eq(devices.hostId, hostId),
        inArray(devices.iommuGroup, groups),
        notInArray(
          devices.id,
          gpus.map((gpu) => gpu.id),
        ),
        ne(devices.kind, 'USB'),
        eq(devices.status, TRANSITIONS.ASSIGN.from),
      ),
    )
    .orderBy(asc(devices.id))
    .for('no key update');
}

/**
 * Takes the plan's GPUs on the first candidate host that still has them all, with the other
 * functions of their IOMMU groups, or returns null.
 * Before falling back to the next host, a host where too few were left (others took them
 * meanwhile) gives back what was taken there, its host lock included: the takes run after a
 * savepoint, rolled back to, so a provision never holds one host's lock while waiting for
 * another's. With a single candidate there is nothing to fall back to and no savepoint.
 */
export async function takePlacement(tx: Tx, plan: PlanRow, choices: HostChoice[]): Promise<{ hostId: string; gpus: DeviceRow[]; groupMates: DeviceRow[] } | null> {
  const fallback = choices.length > 1;
  if (fallback) await tx.execute(sql`savepoint take_gpus`);
  for (const choice of choices) {
    if (plan.gpuCount === 0) {
      if ((await onlineHost(tx, choice.hostId)).length > 0) return { hostId: choice.hostId, gpus: [], groupMates: [] };
    } else {
      const taken = await takeOnHost(tx, plan, choice);
      if (taken.length === plan.gpuCount) {
        const groupMates = await takeGroupMates(tx, choice.hostId, taken);
        return { hostId: choice.hostId, gpus: taken.map(({ grouped: _grouped, ...gpu }) => gpu), groupMates };
      }
    }
    if (fallback) await tx.execute(sql`rollback to savepoint take_gpus`);
  }
  return null;
}
