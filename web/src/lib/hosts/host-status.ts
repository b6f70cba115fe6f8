import type { Tone } from '../ui/tones.ts';

export function hostStatusView(status: string): { label: string; tone: Tone } {
  return status === 'ONLINE' ? { label: 'Online', tone: 'ok' } : { label: 'Offline', tone: 'danger' };
}
