import { count, eq } from 'drizzle-orm';
import type { Queryable } from '../db/client.ts';
import { devices, hosts } from '../db/schema/index.ts';
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

export interface PoolRow extends PoolCounts {
  kind: string;
  vendorId: string;
  productId: string;
  name: string;
  vendorName: string | null;
  hostId: string;
  hostName: string;
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

export function emptyCounts(): PoolCounts {
  return { free: 0, assigned: 0, attached: 0, busy: 0, missing: 0, total: 0 };
}

/** Device counts per host, kind and model, in one grouped query. */
export async function poolRows(db: Queryable): Promise<PoolRow[]> {
  const grouped = await db
    .select({
      hostId: devices.hostId,
      hostName: hosts.name,
      kind: devices.kind,
      vendorId: devices.vendorId,
      productId: devices.productId,
      vendorName: devices.vendorName,
      productName: devices.productName,
      status: devices.status,
      n: count(),
    })
    .from(devices)
    .innerJoin(hosts, eq(hosts.id, devices.hostId))
    .groupBy(devices.hostId, hosts.name, devices.kind, devices.vendorId, devices.productId, devices.vendorName, devices.productName, devices.status);

  const rows = new Map<string, PoolRow>();
  for (const g of grouped) {
    const key = `${g.hostId}/${g.kind}/${g.vendorId}:${g.productId}`;
    const row = rows.get(key) ?? {
      ...emptyCounts(),
      kind: g.kind,
      vendorId: g.vendorId,
      productId: g.productId,
      name: g.productName ?? `${g.vendorName ?? 'Unknown'} [${g.vendorId}:${g.productId}]`,
      vendorName: g.vendorName,
      hostId: g.hostId,
      hostName: g.hostName,
    };
    row[BUCKET[g.status]] += g.n;
    row.total += g.n;
    rows.set(key, row);
  }
  return [...rows.values()];
}

/** Sums rows that share the key `keyOf` gives them. */
export function rollUp<K>(rows: PoolRow[], keyOf: (row: PoolRow) => string, describe: (row: PoolRow) => K): (K & PoolCounts)[] {
  const totals = new Map<string, K & PoolCounts>();
  for (const row of rows) {
    const key = keyOf(row);
    const total = totals.get(key) ?? { ...describe(row), ...emptyCounts() };
    for (const field of Object.keys(emptyCounts()) as (keyof PoolCounts)[]) total[field] += row[field];
    totals.set(key, total);
  }
  return [...totals.values()];
}
