import { randomBytes } from 'node:crypto';
import type { Db } from '../../server/db/client.ts';
import { clusters, devices, hosts, vms } from '../../server/db/schema/index.ts';

/**
 * Rows for a fleet too large to enroll agent by agent: `count` ONLINE hosts named
 * `${prefix}-0000`... in one new cluster, each with 4 GPUs (the first assigned to a running VM),
 * a USB device and an NVMe drive. Inserted directly: three statements per 32 hosts.
 */
export async function insertFleet(db: Db, prefix: string, count: number) {
  const [cluster] = await db.insert(clusters).values({ name: prefix }).returning({ id: clusters.id });
  const inserted: { id: string; name: string }[] = [];
  // In batches: embedded PGlite runs each statement on the test's own thread, and one long one
  // would stall the HTTP keep-alive timers of the server and the client beside it.
  for (let first = 0; first < count; first += BATCH) inserted.push(...(await insertHosts(db, cluster!.id, prefix, first, Math.min(count, first + BATCH))));
  return { clusterId: cluster!.id, hosts: inserted };
}

const BATCH = 32;

async function insertHosts(db: Db, clusterId: string, prefix: string, from: number, to: number) {
  const hostRows = await db
    .insert(hosts)
    .values(
      Array.from({ length: to - from }, (_, n) => ({
        clusterId,
        name: `${prefix}-${String(from + n).padStart(4, '0')}`,
        status: 'ONLINE' as const,
        lastSeenAt: new Date(),
        cpuCores: 64,
        memoryMb: 262_144,
        iommuEnabled: true,
        tokenHash: randomBytes(32).toString('hex'),
      })),
    )
    .returning({ id: hosts.id, name: hosts.name });
  const vmRows = await db
    .insert(vms)
    .values(hostRows.map((host) => ({ name: `vm-${host.name}`, hostId: host.id, cores: 8, memoryMb: 32_768, diskGb: 100, status: 'RUNNING' as const })))
    .returning({ id: vms.id, hostId: vms.hostId });
  const vmOf = new Map(vmRows.map((vm) => [vm.hostId, vm.id]));
  const gpu = { kind: 'GPU' as const, vendorId: '10de', productId: '2330', vendorName: 'NVIDIA Corporation', productName: 'GH100 [H100 SXM5 80GB]', driver: 'vfio-pci' };
  await db.insert(devices).values(
    hostRows.flatMap((host) => [
      ...[0, 1, 2, 3].map((n) => ({
        ...gpu,
        hostId: host.id,
        address: `0000:${(0x41 + n).toString(16)}:00.0`,
        iommuGroup: n,
        numaNode: n < 2 ? 0 : 1,
        ...(n === 0 ? { status: 'ASSIGNED' as const, vmId: vmOf.get(host.id) ?? null } : { status: 'DETACHED' as const }),
      })),
      { hostId: host.id, kind: 'USB' as const, address: '1-1', vendorId: '0781', productId: '5581', productName: 'Ultra', status: 'ATTACHED' as const },
      { hostId: host.id, kind: 'NVME' as const, address: '0000:c1:00.0', vendorId: '144d', productId: 'a80a', productName: 'NVMe SSD Controller PM9A1', status: 'ATTACHED' as const },
    ]),
  );
  return hostRows;
}
