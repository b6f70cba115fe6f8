import { asc, desc, inArray, max, sql, type SQL, type SQLWrapper } from 'drizzle-orm';
import type { Queryable } from '../db/client.ts';
import { deviceStatus } from '../db/schema/enums.ts';
import { devices } from '../db/schema/index.ts';
import type { DeviceStatus } from './device-state.ts';

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
export type KindCounts = PoolCounts & { kind: Kind };

export interface Pool {
  byKind: KindCounts[];
  /** Most numerous first. */
  byModel: (KindCounts & { vendorId: string; productId: string; name: string; vendorName: string | null })[];
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

// Which grouping set a row belongs to: grouping() has a bit set for each column the set leaves out.
const SET = sql<number>`grouping(${devices.vendorId}, ${devices.productId})`.mapWith(Number);
const BY_KIND = 0b11;
const BY_MODEL = 0b00;

/** The pool by kind and by model, counted in one statement: GROUP BY GROUPING SETS with a FILTER per bucket. */
export async function loadPool(db: Queryable): Promise<Pool> {
  const rows = await db
    .select({
      set: SET,
      kind: devices.kind,
      vendorId: devices.vendorId,
      productId: devices.productId,
      vendorName: max(devices.vendorName),
      productName: max(devices.productName),
      free: countOf('free'),
      assigned: countOf('assigned'),
      attached: countOf('attached'),
      busy: countOf('busy'),
      missing: countOf('missing'),
      total: sql<number>`count(*)`.mapWith(Number),
    })
    .from(devices)
    .groupBy(sql`grouping sets ((${devices.kind}), (${devices.kind}, ${devices.vendorId}, ${devices.productId}))`)
    .orderBy(SET, desc(sql`count(*)`), asc(devices.kind), asc(max(devices.productName)), asc(devices.vendorId), asc(devices.productId));

  const pool: Pool = { byKind: [], byModel: [] };
  for (const g of rows) {
    const counts = { free: g.free, assigned: g.assigned, attached: g.attached, busy: g.busy, missing: g.missing, total: g.total };
    if (g.set === BY_KIND) pool.byKind.push({ kind: g.kind, ...counts });
    else if (g.set === BY_MODEL) {
      const name = g.productName ?? `${g.vendorName ?? 'Unknown'} [${g.vendorId}:${g.productId}]`;
      pool.byModel.push({ kind: g.kind, vendorId: g.vendorId, productId: g.productId, name, vendorName: g.vendorName, ...counts });
    }
  }
  return pool;
}

/**
 * One host's counts per kind (the kinds it has, in kind order) as a JSON value: a subquery a
 * host's row selects, so a page of hosts with their counts is still one statement.
 */
export function hostPoolOf(hostId: SQLWrapper): SQL<KindCounts[]> {
  return sql<KindCounts[]>`(select coalesce(json_agg(json_build_object(
      'kind', counts.kind, 'free', counts.free, 'assigned', counts.assigned, 'attached', counts.attached,
      'busy', counts.busy, 'missing', counts.missing, 'total', counts.total) order by counts.kind), '[]'::json)
    from (select ${devices.kind} as kind, ${countOf('free')} as free, ${countOf('assigned')} as assigned,
        ${countOf('attached')} as attached, ${countOf('busy')} as busy, ${countOf('missing')} as missing, count(*) as total
      from ${devices} where ${devices.hostId} = ${hostId} group by ${devices.kind}) counts)`;
}
