export type ProvisionType = 'KVM' | 'LXC' | 'BARE_METAL';

export const PROVISION_TYPES: { value: ProvisionType; label: string }[] = [
  { value: 'KVM', label: 'KVM' },
  { value: 'LXC', label: 'LXC' },
  { value: 'BARE_METAL', label: 'Bare metal' },
];

/** A plan as the form edits it (what the API returns for a ServicePlan). */
export interface PlanValues {
  name: string;
  provisionType: ProvisionType;
  cores: number;
  memoryMb: number;
  diskGb: number;
  gpuCount: number;
  gpuVendorId: string | null;
  gpuProductId: string | null;
}

/** A GPU model the pool has, offered as a plan's GPU restriction. */
export interface GpuModelOption {
  vendorId: string;
  productId: string;
  name: string;
  vendorName: string | null;
  free: number;
  total: number;
}

const int = (value: number) => Number.isInteger(value);

/**
 * The New/Edit Service Plan form. GPU fields exist only for KVM plans (the only type that can
 * pass GPUs through): they are shown only then, and sent only then.
 */
export class PlanForm {
  name = $state('');
  provisionType = $state<ProvisionType>('KVM');
  cores = $state(8);
  memoryMb = $state(32768);
  diskGb = $state(100);
  gpuCount = $state(0);
  /** '' = any GPU, 'vvvv' = any of a vendor, 'vvvv:pppp' = one model. */
  gpuModel = $state('');

  constructor(plan?: PlanValues | null) {
    if (!plan) return;
    this.name = plan.name;
    this.provisionType = plan.provisionType;
    this.cores = plan.cores;
    this.memoryMb = plan.memoryMb;
    this.diskGb = plan.diskGb;
    this.gpuCount = plan.gpuCount;
    this.gpuModel = plan.gpuVendorId ? (plan.gpuProductId ? `${plan.gpuVendorId}:${plan.gpuProductId}` : plan.gpuVendorId) : '';
  }

  get showGpu() {
    return this.provisionType === 'KVM';
  }

  errors = $derived.by(() => {
    const errors: Partial<Record<'name' | 'cores' | 'memoryMb' | 'diskGb' | 'gpuCount', string>> = {};
    if (this.name.trim().length < 1 || this.name.length > 64) errors.name = 'Give the plan a name of 1 to 64 characters.';
    if (!int(this.cores) || this.cores < 1 || this.cores > 1024) errors.cores = '1 to 1024 vCPUs.';
    if (!int(this.memoryMb) || this.memoryMb < 64 || this.memoryMb > 16 * 1024 * 1024) errors.memoryMb = '64 MiB to 16 TiB.';
    if (!int(this.diskGb) || this.diskGb < 0) errors.diskGb = '0 GiB or more.';
    if (this.showGpu && (!int(this.gpuCount) || this.gpuCount < 0 || this.gpuCount > 64)) errors.gpuCount = '0 to 64 GPUs.';
    return errors;
  });

  get valid() {
    return Object.keys(this.errors).length === 0;
  }

  #gpuIds(): { gpuVendorId: string | null; gpuProductId: string | null } {
    if (!this.gpuModel) return { gpuVendorId: null, gpuProductId: null };
    const [vendor, product] = this.gpuModel.split(':');
    return { gpuVendorId: vendor ?? null, gpuProductId: product ?? null };
  }

  /** CreateServicePlanInput. */
  createInput() {
    const base = { name: this.name.trim(), provisionType: this.provisionType, cores: this.cores, memoryMb: this.memoryMb, diskGb: this.diskGb };
    if (!this.showGpu) return base;
    const ids = this.#gpuIds();
    return { ...base, gpuCount: this.gpuCount, ...(ids.gpuVendorId ? { gpuVendorId: ids.gpuVendorId } : {}), ...(ids.gpuProductId ? { gpuProductId: ids.gpuProductId } : {}) };
  }

  /** UpdateServicePlanInput fields: everything, with the GPU restriction cleared ('') when there is none. */
  updateInput() {
    const ids = this.showGpu ? this.#gpuIds() : { gpuVendorId: null, gpuProductId: null };
    return {
      name: this.name.trim(),
      provisionType: this.provisionType,
      cores: this.cores,
      memoryMb: this.memoryMb,
      diskGb: this.diskGb,
      gpuCount: this.showGpu ? this.gpuCount : 0,
      gpuVendorId: ids.gpuVendorId ?? '',
      gpuProductId: ids.gpuProductId ?? '',
    };
  }
}

/** The choices of the GPU model select, from what the pool holds (plus the plan's own, if gone). */
export function gpuModelChoices(models: GpuModelOption[], current: string): { value: string; label: string }[] {
  const choices = [{ value: '', label: 'Any GPU' }];
  const vendors = new Map<string, string | null>();
  for (const m of models) {
    choices.push({ value: `${m.vendorId}:${m.productId}`, label: `${m.name} (${m.vendorId}:${m.productId}) — ${m.free} free of ${m.total}` });
    vendors.set(m.vendorId, vendors.get(m.vendorId) ?? m.vendorName);
  }
  for (const [vendor, name] of vendors) choices.push({ value: vendor, label: name ? `Any ${name} GPU (${vendor})` : `Any GPU of vendor ${vendor}` });
  if (current && !choices.some((c) => c.value === current)) choices.push({ value: current, label: `${current} (none in the pool now)` });
  return choices;
}
