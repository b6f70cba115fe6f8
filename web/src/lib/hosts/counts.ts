export interface Counts {
  total: number;
  free: number;
  assigned: number;
  attached: number;
  busy: number;
  missing: number;
}

const KINDS = ['GPU', 'USB', 'NVME', 'PCI'] as const;

/** Per-kind counts of a list of devices, the way pool {} counts them. */
export function countByKind(devices: readonly { kind: string; status: string }[]): Record<(typeof KINDS)[number], Counts> {
  const out = Object.fromEntries(KINDS.map((k) => [k, { total: 0, free: 0, assigned: 0, attached: 0, busy: 0, missing: 0 }])) as Record<(typeof KINDS)[number], Counts>;
  for (const device of devices) {
    const counts = out[device.kind as (typeof KINDS)[number]];
    if (!counts) continue;
    counts.total += 1;
    if (device.status === 'DETACHED') counts.free += 1;
    else if (device.status === 'ASSIGNED') counts.assigned += 1;
    else if (device.status === 'ATTACHED') counts.attached += 1;
    else if (device.status === 'MISSING') counts.missing += 1;
    else counts.busy += 1;
  }
  return out;
}
