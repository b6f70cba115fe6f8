// Choosing GPUs for a plan. Pure functions: the caller has already locked the free GPUs.

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

/** The GPUs of one host that span the fewest NUMA nodes, or null when it has too few. */
export function pickOnHost(free: FreeGpu[], count: number): Placement | null {
  if (free.length < count || free.length === 0) return null;
  const byNode = new Map<number | null, FreeGpu[]>();
  for (const gpu of free) byNode.set(gpu.numaNode, [...(byNode.get(gpu.numaNode) ?? []), gpu]);
  const groups = [...byNode.values()];

  // One node suffices: take the smallest node that fits, keeping bigger ones for bigger plans.
  const fitting = groups.filter((group) => group.length >= count).sort((a, b) => a.length - b.length);
  if (fitting.length > 0) {
    return { hostId: free[0]!.hostId, gpus: fitting[0]!.slice(0, count), numaNodesSpanned: 1 };
  }
  // Otherwise fill from the largest nodes down, which spans the fewest nodes.
  const gpus: FreeGpu[] = [];
  let spanned = 0;
  for (const group of groups.sort((a, b) => b.length - a.length)) {
    if (gpus.length >= count) break;
    gpus.push(...group.slice(0, count - gpus.length));
    spanned += 1;
  }
  return { hostId: free[0]!.hostId, gpus, numaNodesSpanned: spanned };
}

/**
 * The best host for `count` GPUs: fewest NUMA nodes spanned, then the host with the fewest free
 * GPUs that still fits (so large hosts stay free for large plans), then by name for stable choice.
 */
export function choosePlacement(free: FreeGpu[], count: number): Placement | null {
  const byHost = new Map<string, FreeGpu[]>();
  for (const gpu of free) byHost.set(gpu.hostId, [...(byHost.get(gpu.hostId) ?? []), gpu]);
  const candidates = [...byHost.values()]
    .map((gpus) => ({ placement: pickOnHost(gpus, count), freeOnHost: gpus.length, hostName: gpus[0]!.hostName }))
    .filter((candidate) => candidate.placement !== null)
    .sort(
      (a, b) =>
        a.placement!.numaNodesSpanned - b.placement!.numaNodesSpanned ||
        a.freeOnHost - b.freeOnHost ||
        a.hostName.localeCompare(b.hostName),
    );
  return candidates[0]?.placement ?? null;
}
