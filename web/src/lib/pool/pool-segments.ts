import type { Tone } from '../ui/tones.ts';
import type { DeviceKind } from '../devices/fragments.ts';

export interface PoolCounts {
  free: number;
  assigned: number;
  attached: number;
  busy: number;
  missing: number;
  total: number;
}

/** The meter segments for a set of counts, in one fixed order and palette across the console. */
export function segmentsOf(c: PoolCounts): { value: number; tone: Tone; label: string }[] {
  return [
    { value: c.assigned, tone: 'ok', label: 'assigned' },
    { value: c.free, tone: 'info', label: 'free' },
    { value: c.busy, tone: 'warn', label: 'in flight' },
    { value: c.attached, tone: 'neutral', label: 'attached to host' },
    { value: c.missing, tone: 'danger', label: 'missing' },
  ];
}

export const EMPTY_COUNTS: PoolCounts = { free: 0, assigned: 0, attached: 0, busy: 0, missing: 0, total: 0 };

/** The counts of one kind in a `pool` answer, which lists only the kinds present: zero for the rest. */
export function countsOf<C extends { kind: string }>(pool: readonly C[], kind: DeviceKind): C | typeof EMPTY_COUNTS {
  return pool.find((c) => c.kind === kind) ?? EMPTY_COUNTS;
}
