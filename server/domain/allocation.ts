// Choosing GPUs for a plan. Pure functions over free-GPU counts: the read path (`capacity`)
// and the write path (provisionVm, which takes the GPUs with SKIP LOCKED in this order) share
// them, so what `capacity` shows is what a provision gets when nothing races it.

export interface FreeGpu {
  id: string;
  hostId: string;
  hostName: string;
  numaNode: number | null;
}

export interface Placement {
  hostId: string;
  gpus: FreeGpu[];
  numaNodesSpanned: number;
}

/** Matching free GPUs of one host on one NUMA node (null: the device reports none). */
export interface NumaFree {
  numaNode: number | null;
  free: number;
}

/** A host that can take the plan: the NUMA nodes to take GPUs from, best first. */
export interface HostChoice {
  hostId: string;
  hostName: string;
  /** Every node with free GPUs, in the order GPUs should be taken from them. */
  numaOrder: (number | null)[];
  numaNodesSpanned: number;
  freeOnHost: number;
}

const byNode = (a: NumaFree, b: NumaFree) => (a.numaNode ?? Infinity) - (b.numaNode ?? Infinity);

/**
 * The order to take `count` GPUs from a host's NUMA nodes so they span the fewest nodes, or
 * null when the host has too few. One node suffices: the smallest that fits first, keeping
 * bigger ones for bigger plans. Otherwise the largest nodes first. The remaining nodes follow,
 * so a take that finds some GPUs already taken still fills from the next best node.
 */
export function numaOrder(nodes: NumaFree[], count: number): { numaOrder: (number | null)[]; numaNodesSpanned: number } | null {
  const withFree = nodes.filter((node) => node.free > 0);
  const total = withFree.reduce((sum, node) => sum + node.free, 0);
  if (total < count || total === 0) return null;
  const largestFirst = [...withFree].sort((a, b) => b.free - a.free || byNode(a, b));
  const fitting = withFree.filter((node) => node.free >= count).sort((a, b) => a.free - b.free || byNode(a, b));
  if (fitting.length > 0) {
    const first = fitting[0]!;
    return { numaOrder: [first.numaNode, ...largestFirst.filter((node) => node !== first).map((node) => node.numaNode)], numaNodesSpanned: 1 };
  }
  let taken = 0;
  let spanned = 0;
  for (const node of largestFirst) {
    if (taken >= count) break;
    taken += node.free;
    spanned += 1;
  }
  return { numaOrder: largestFirst.map((node) => node.numaNode), numaNodesSpanned: spanned };
}

/**
 * The hosts that can take `count` GPUs, best first: fewest NUMA nodes spanned, then the host
 * with the fewest free GPUs that still fits (so large hosts stay free for large plans), then by
 * name for a stable choice.
 */
export function rankHosts(hosts: { hostId: string; hostName: string; nodes: NumaFree[] }[], count: number): HostChoice[] {
  return hosts
    .flatMap((host) => {
      const order = numaOrder(host.nodes, count);
      const freeOnHost = host.nodes.reduce((sum, node) => sum + node.free, 0);
      return order ? [{ hostId: host.hostId, hostName: host.hostName, ...order, freeOnHost }] : [];
    })
    .sort((a, b) => a.numaNodesSpanned - b.numaNodesSpanned || a.freeOnHost - b.freeOnHost || a.hostName.localeCompare(b.hostName));
}

/** The GPUs of one host that span the fewest NUMA nodes (in the given order within a node), or null when it has too few. */
export function pickOnHost(free: FreeGpu[], count: number): Placement | null {
  const first = free[0];
  if (!first) return null;
  const order = numaOrder(countByNode(free), count);
  if (!order) return null;
  const rank = (gpu: FreeGpu) => order.numaOrder.indexOf(gpu.numaNode);
  const gpus = [...free].sort((a, b) => rank(a) - rank(b)).slice(0, count);
  return { hostId: first.hostId, gpus, numaNodesSpanned: new Set(gpus.map((gpu) => gpu.numaNode)).size };
}

function countByNode(free: FreeGpu[]): NumaFree[] {
  const counts = new Map<number | null, number>();
  for (const gpu of free) counts.set(gpu.numaNode, (counts.get(gpu.numaNode) ?? 0) + 1);
  return [...counts].map(([numaNode, n]) => ({ numaNode, free: n }));
}

/** The placement a provision would get now, from a list of free GPUs (ordered by ID). */
export function choosePlacement(free: FreeGpu[], count: number): Placement | null {
  const byHost = new Map<string, FreeGpu[]>();
  for (const gpu of free) byHost.set(gpu.hostId, [...(byHost.get(gpu.hostId) ?? []), gpu]);
  const hosts = [...byHost.values()].map((gpus) => ({ hostId: gpus[0]!.hostId, hostName: gpus[0]!.hostName, nodes: countByNode(gpus) }));
  const best = rankHosts(hosts, count)[0];
  return best ? pickOnHost(byHost.get(best.hostId) ?? [], count) : null;
}
