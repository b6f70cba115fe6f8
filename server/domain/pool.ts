import { asc, desc, eq, getColumns, inArray, max, sql, type SQL } from 'drizzle-orm';
import type { Queryable } from '../db/client.ts';
import { deviceStatus } from '../db/schema/enums.ts';
import { devices, hosts } from '../db/schema/index.ts';
import type { DeviceStatus } from './device-state.ts';
import type { HostRow } from './hosts.ts';

export interface PoolCounts {
  /** DETACHED: in the pool and free for a VM. */
  free: number;
  assigned: number;
  /** ATTACHED to the host OS. */
  attached: number;
  /** Any operation in flight. */
  busy: number;
  missing: number;
  total: number;
}

type Kind = (typeof devices.kind.enumValues)[number];
/** A host as the pool shows it: every column but its token hash. */
export type PoolHost = Omit<HostRow, 'tokenHash'>;

export interface Pool {
  byKind: (PoolCounts & { kind: Kind })[];
  /** Most numerous first. */
  byModel: (PoolCounts & { kind: Kind; vendorId: string; productId: string; name: string; vendorName: string | null })[];
  /** By host name, then kind. */
  byHost: (PoolCounts & { kind: Kind; host: PoolHost })[];
}

const BUCKET: Record<DeviceStatus, keyof Omit<PoolCounts, 'total'>> = {
  DETACHED: 'free',
  ASSIGNED: 'assigned',
  ATTACHED: 'attached',
  MISSING: 'missing',
  DETACHING: 'busy',
  ATTACHING: 'busy',
  ASSIGNING: 'busy',
  RELEASING: 'busy',
};

/** `count(*) filter (where status in ...)` for one bucket, its statuses derived from BUCKET. */
function countOf(bucket: keyof Omit<PoolCounts, 'total'>): SQL<number> {
  const statuses = deviceStatus.enumValues.filter((status) => BUCKET[status] === bucket);
  return sql<number>`count(*) filter (where ${inArray(devices.status, statuses)})`.mapWith(Number);
}

const { tokenHash: _secret, ...hostColumns } = getColumns(hosts);

// Which grouping set a row belongs to: grouping() has a bit set for each column the set leaves out.
const SET = sql<number>`grouping(${devices.hostId}, ${devices.vendorId}, ${devices.productId})`.mapWith(Number);
const BY_KIND = 0b111;
const BY_MODEL = 0b100;
const BY_HOST = 0b011;

/**
 * The pool by kind, by model and by host, counted in one statement: one GROUP BY GROUPING SETS
 * with a FILTER per bucket, the hosts of the per-host rows joined after grouping.
 */
export async function loadPool(db: Queryable): Promise<Pool> {
  const grouped = db
    .select({
      set: SET.as('set'),
      kind: devices.kind,
      hostId: devices.hostId,
      vendorId: devices.vendorId,
      productId: devices.productId,
      vendorName: max(devices.vendorName).as('vendor_name'),
      productName: max(devices.productName).as('product_name'),
      free: countOf('free').as('free'),
      assigned: countOf('assigned').as('assigned'),
      attached: countOf('attached').as('attached'),
      busy: countOf('busy').as('busy'),
      missing: countOf('missing').as('missing'),
      total: sql<number>`count(*)`.mapWith(Number).as('total'),
    })
    .from(devices)
    .groupBy(sql`grouping sets ((${devices.kind}), (${devices.kind}, ${devices.vendorId}, ${devices.productId}), (${devices.hostId}, ${devices.kind}))`)
    .as('grouped');
  const rows = await db
    .select({
      set: grouped.set,
      kind: grouped.kind,
      vendorId: grouped.vendorId,
      productId: grouped.productId,
      vendorName: grouped.vendorName,
      productName: grouped.productName,
      free: grouped.free,
      assigned: grouped.assigned,
      attached: grouped.attached,
      busy: grouped.busy,
      missing: grouped.missing,
      total: grouped.total,
      host: hostColumns,
    })
    .from(grouped)
    .leftJoin(hosts, eq(hosts.id, grouped.hostId))
    // Host names are null outside the per-host set, so each set keeps its own order.
    .orderBy(grouped.set, asc(hosts.name), desc(grouped.total), asc(grouped.kind), asc(grouped.productName), asc(grouped.vendorId), asc(grouped.productId));

  const pool: Pool = { byKind: [], byModel: [], byHost: [] };
  for (const { host, ...g } of rows) {
    const counts = { free: g.free, assigned: g.assigned, attached: g.attached, busy: g.busy, missing: g.missing, total: g.total };
    if (g.set === BY_KIND) pool.byKind.push({ kind: g.kind, ...counts });
    else if (g.set === BY_MODEL && g.vendorId !== null && g.productId !== null) {
      const name = g.productName ?? `${g.vendorName ?? 'Unknown'} [${g.vendorId}:${g.productId}]`;
      pool.byModel.push({ kind: g.kind, vendorId: g.vendorId, productId: g.productId, name, vendorName: g.vendorName, ...counts });
    } else if (g.set === BY_HOST && host) pool.byHost.push({ kind: g.kind, host, ...counts });
  }
  return pool;
}
