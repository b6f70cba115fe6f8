import { sql } from 'drizzle-orm';
import type { Db } from '../../server/db/client.ts';

/** Everything a refused call must leave untouched, read straight from the database. */
export async function stateSnapshot(db: Db) {
  const list = (query: ReturnType<typeof sql>) => queryRows(db, query);
  return {
    devices: await list(sql`select id, status, vm_id, address from devices order by id`),
    vms: await list(sql`select id, status, name from vms order by id`),
    plans: await list(sql`select * from service_plans order by id`),
    hosts: await list(sql`select id, name, status, cluster_id from hosts order by id`),
    clusters: await list(sql`select id, name from clusters order by id`),
    operations: await list(sql`select id, status from operations order by id`),
    events: await list(sql`select count(*)::int as n from device_events`),
  };
}

/** Rows of a raw query on either driver. */
export async function queryRows<T>(db: Db, query: ReturnType<typeof sql>): Promise<T[]> {
  const result = (await db.execute(query)) as unknown as { rows?: T[] } | T[];
  return Array.isArray(result) ? result : (result.rows ?? []);
}
