// The read benchmark's fleet and its three equivalent dashboard queries: Passthru's GraphQL,
// PostGraphile's (its default naming over the same tables) and the floor's one statement.
// The fleet is seeded with plain SQL (no agents): hosts ONLINE, each with 8 devices in a
// realistic mix, two of its GPUs passed through to two running VMs.
import type postgres from 'postgres';

/**
 * The console's dashboard: hosts -> devices -> VM, and the pool by kind. The fields of
 * bench/dashboard-query.ts; a page of 8 devices (each host has 8) keeps 500 hosts under
 * Passthru's query cost limit (server/graphql/query-cost.ts).
 */
export const PASSTHRU_DASHBOARD = `query Dashboard {
  hosts(first: 500) { nodes { name status devices(first: 8) { nodes { address status vm { name status } } } } }
  pool { byKind { kind free assigned attached busy missing total } }
}`;

/**
 * The same through PostGraphile v4. Its default schema has no aggregates, so the pool is a SQL
 * function the bench adds (bench_postgraphile.pool_by_kind), as a team would; PostGraphile
 * runs each root field as its own statement.
 */
export const POSTGRAPHILE_DASHBOARD = `query Dashboard {
  allHosts(first: 500, orderBy: NAME_ASC) { nodes { name status
    devicesByHostId(first: 8, orderBy: ADDRESS_ASC) { nodes { address status vmByVmIdAndHostId { name status } } } } }
  poolByKind { nodes { kind free assigned attached busy missing total } }
}`;

/** Pool counts by kind with Passthru's buckets (server/domain/pool.ts). */
const POOL_BY_KIND_SQL = `select kind::text as kind,
    (count(*) filter (where status = 'DETACHED'))::int as free,
    (count(*) filter (where status = 'ASSIGNED'))::int as assigned,
    (count(*) filter (where status = 'ATTACHED'))::int as attached,
    (count(*) filter (where status in ('DETACHING', 'ATTACHING', 'ASSIGNING', 'RELEASING')))::int as busy,
    (count(*) filter (where status = 'MISSING'))::int as missing,
    count(*)::int as total
  from devices group by kind order by kind`;

/** The floor: the whole response body from one statement. */
export const FLOOR_DASHBOARD_SQL = `select json_build_object('data', json_build_object(
  'hosts', json_build_object('nodes', coalesce((
    select json_agg(json_build_object('name', h.name, 'status', h.status, 'devices', coalesce((
      select json_agg(json_build_object('address', d.address, 'status', d.status,
        'vm', (select json_build_object('name', v.name, 'status', v.status) from vms v where v.id = d.vm_id))
        order by d.address)
      from devices d where d.host_id = h.id), '[]'::json)) order by h.name)
    from (select id, name, status from hosts order by name limit 500) h), '[]'::json)),
  'pool', json_build_object('byKind', (select json_agg(p) from (${POOL_BY_KIND_SQL}) p))))::text as body`;

/** Hosts in the dashboard's answer, from any of the three shapes. */
export function hostsIn(body: unknown): number {
  if (!body || typeof body !== 'object' || !('data' in body) || !body.data || typeof body.data !== 'object') return -1;
  const data = body.data;
  const list = 'hosts' in data ? data.hosts : 'allHosts' in data ? data.allHosts : null;
  if (!list || typeof list !== 'object' || !('nodes' in list) || !Array.isArray(list.nodes)) return -1;
  return list.nodes.length;
}

/** The pool function PostGraphile serves as `poolByKind`, in a schema of the bench's own. */
export async function addPostgraphilePool(sql: postgres.Sql) {
  await sql.unsafe(`create schema if not exists bench_postgraphile`);
  await sql.unsafe(`create or replace function bench_postgraphile.pool_by_kind()
    returns table (kind text, free int, assigned int, attached int, busy int, missing int, total int)
    language sql stable as $$ ${POOL_BY_KIND_SQL} $$`);
}

/**
 * Grows the fleet to `hosts` hosts (bench-0000…), each with 4 GPUs (2 passed through to its two
 * running VMs, 1 pooled, 1 on the host driver), 2 USB devices and 2 NVMe drives (1 pooled).
 */
export async function seedReadFleet(sql: postgres.Sql, hosts: number) {
  await sql.unsafe(`insert into clusters (name) values ('fleet') on conflict (name) do nothing`);
  const [{ have } = { have: 0 }] = await sql<{ have: number }[]>`select count(*)::int as have from hosts`;
  if (have >= hosts) return;
  await sql.unsafe(
    `insert into hosts (cluster_id, name, status, last_seen_at, cpu_cores, memory_mb, iommu_enabled, token_hash)
     select (select id from clusters where name = 'fleet'), 'bench-' || lpad(i::text, 4, '0'), 'ONLINE', now(), 64, 524288, true,
            md5(random()::text || i::text)
     from generate_series($1::int, $2::int - 1) i`,
    [have, hosts],
  );
  await sql.unsafe(
    `with new_hosts as (select id, name from hosts where not exists (select 1 from devices d where d.host_id = hosts.id))
     insert into vms (name, host_id, cores, memory_mb, disk_gb, status)
     select h.name || '-vm' || n, h.id, 8, 32768, 100, 'RUNNING' from new_hosts h, generate_series(1, 2) n`,
  );
  await sql.unsafe(
    `with new_hosts as (select id, name from hosts where not exists (select 1 from devices d where d.host_id = hosts.id)),
     spec (n, kind, address, vendor_id, product_id, product_name, numa_node, driver, status) as (values
       (1, 'GPU', '0000:17:00.0', '10de', '2204', 'GA102 [GeForce RTX 3090]', 0, 'vfio-pci', 'ASSIGNED'),
       (2, 'GPU', '0000:31:00.0', '10de', '2204', 'GA102 [GeForce RTX 3090]', 0, 'vfio-pci', 'ASSIGNED'),
       (0, 'GPU', '0000:b1:00.0', '10de', '2204', 'GA102 [GeForce RTX 3090]', 1, 'vfio-pci', 'DETACHED'),
       (0, 'GPU', '0000:ca:00.0', '10de', '2204', 'GA102 [GeForce RTX 3090]', 1, 'nvidia', 'ATTACHED'),
       (0, 'USB', '1-2', '046d', 'c52b', 'Unifying Receiver', null, 'usbhid', 'ATTACHED'),
       (0, 'USB', '1-4', '1050', '0407', 'YubiKey OTP+FIDO+CCID', null, 'usbhid', 'ATTACHED'),
       (0, 'NVME', '0000:5e:00.0', '144d', 'a80a', 'PM9A3', 0, 'nvme', 'ATTACHED'),
       (0, 'NVME', '0000:5f:00.0', '144d', 'a80a', 'PM9A3', 0, 'vfio-pci', 'DETACHED'))
     insert into devices (host_id, kind, address, vendor_id, product_id, vendor_name, product_name, serial, iommu_group, numa_node, driver, status, vm_id)
     select h.id, s.kind::device_kind, s.address, s.vendor_id, s.product_id, null, s.product_name, null, null, s.numa_node, s.driver,
            s.status::device_status, (select v.id from vms v where v.host_id = h.id and v.name = h.name || '-vm' || s.n)
     from new_hosts h, spec s`,
  );
  await sql.unsafe(`analyze`);
}
