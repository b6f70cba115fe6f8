import { sql } from 'drizzle-orm';
import type { Db } from '../../server/db/client.ts';

/**
 * Everything a refused call must leave untouched, read straight from the database. With
 * `hostId`, the rows of that host (the call's target) in full and only the row counts of the
 * rest: operations of other hosts' agents, finishing while the call runs, are not its doing.
 */
export async function stateSnapshot(db: Db, hostId?: string) {
  const list = (query: ReturnType<typeof sql>) => queryRows(db, query);
  const onHost = hostId ? sql`where host_id = ${hostId}` : sql``;
  return {
    devices: await list(sql`select id, status, vm_id, address from devices ${onHost} order by id`),
    vms: await list(sql`select id, status, name from vms ${onHost} order by id`),
    plans: await list(sql`select * from service_plans order by id`),
    hosts: await list(sql`select id, name, status, cluster_id from hosts order by id`),
    clusters: await list(sql`select id, name from clusters order by id`),
    operations: await list(sql`select id, status from operations ${onHost} order by id`),
    events: await list(sql`select count(*)::int as n from device_events e join devices d on d.id = e.device_id ${hostId ? sql`where d.host_id = ${hostId}` : sql``}`),
    rows: await list(sql`select (select count(*) from devices)::int as devices, (select count(*) from vms)::int as vms, (select count(*) from operations)::int as operations`),
  };
}

/** Rows of a raw query on either driver. */
export async function queryRows<T>(db: Db, query: ReturnType<typeof sql>): Promise<T[]> {
  const result = (await db.execute(query)) as unknown as { rows?: T[] } | T[];
  return Array.isArray(result) ? result : (result.rows ?? []);
}
