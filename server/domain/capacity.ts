// What a host has free for a plan, and what it is short of: shared by placement (the write
// path), `capacity` (the read path) and NoCapacityError, so all three say the same.

/** What a provision can run short of on a host. */
export const CAPACITY_RESOURCES = ['GPUS', 'CORES', 'MEMORY'] as const;
export type CapacityResource = (typeof CAPACITY_RESOURCES)[number];

export const isCapacityResource = (value: unknown): value is CapacityResource => CAPACITY_RESOURCES.some((resource) => resource === value);

/** What a plan needs of one host. */
export interface PlanNeeds {
  gpuCount: number;
  cores: number;
  memoryMb: number;
}

/** What one host has free for a plan, and what it is short of. */
export interface HostFree {
  hostId: string;
  hostName: string;
  /** GPUs matching the plan, free. */
  freeGpus: number;
  /** Cores left under the CPU allocation ratio; null until the agent has reported its CPUs. */
  freeCores: number | null;
  /** Memory (MiB) left; null until the agent has reported its memory. */
  freeMemoryMb: number | null;
  /** What the host has too little of for the plan; empty when it fits. */
  short: CapacityResource[];
}

/** What `host` is short of for `plan`: a host that has not reported its cores or memory has none to give. */
export function shortOf(plan: PlanNeeds, host: Pick<HostFree, 'freeGpus' | 'freeCores' | 'freeMemoryMb'>): CapacityResource[] {
  const short: CapacityResource[] = [];
  if (host.freeGpus < plan.gpuCount) short.push('GPUS');
  if (host.freeCores === null || host.freeCores < plan.cores) short.push('CORES');
  if (host.freeMemoryMb === null || host.freeMemoryMb < plan.memoryMb) short.push('MEMORY');
  return short;
}

/** The host has the plan's cores and memory left: the hosts a provision may take GPUs on. */
export const hasCoresAndMemory = (host: HostFree) => !host.short.includes('CORES') && !host.short.includes('MEMORY');
