import { planProblems, PROVISION_TYPES, type PlanRules, type ProvisionType } from '../../../../protocol/rules.ts';

export type { ProvisionType };

const PROVISION_TYPE_LABELS = { KVM: 'KVM', LXC: 'LXC', BARE_METAL: 'Bare metal' } satisfies Record<ProvisionType, string>;

/** The provision type select's choices, in the API's order. */
export const PROVISION_TYPE_CHOICES = PROVISION_TYPES.map((value) => ({ value, label: PROVISION_TYPE_LABELS[value] }));

/** A plan as the form edits it (what the API returns for a ServicePlan). */
export type PlanValues = PlanRules;

/** A GPU model the pool has, offered as a plan's GPU restriction. */
export interface GpuModelOption {
  vendorId: string;
  productId: string;
  name: string;
  vendorName: string | null;
  free: number;
  total: number;
}

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

  /** The server's own rules (protocol/rules.ts), checked on what the form would send. */
  errors = $derived.by(() => {
    const ids = this.showGpu ? this.#gpuIds() : { gpuVendorId: null, gpuProductId: null };
    return planProblems({
      name: this.name,
      provisionType: this.provisionType,
      cores: this.cores,
      memoryMb: this.memoryMb,
      diskGb: this.diskGb,
      gpuCount: this.showGpu ? this.gpuCount : 0,
      ...ids,
    });
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
