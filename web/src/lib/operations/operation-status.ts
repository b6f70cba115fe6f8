import type { Tone } from '../ui/tones.ts';

const STATUS: Record<string, { label: string; tone: Tone; busy: boolean }> = {
  PENDING: { label: 'Pending', tone: 'neutral', busy: true },
  RUNNING: { label: 'Running', tone: 'warn', busy: true },
  SUCCEEDED: { label: 'Succeeded', tone: 'ok', busy: false },
  FAILED: { label: 'Failed', tone: 'danger', busy: false },
};

export function operationStatusView(status: string) {
  return STATUS[status] ?? { label: status, tone: 'neutral' as Tone, busy: false };
}

const TYPE: Record<string, string> = {
  DETACH: 'Detach',
  ATTACH: 'Attach',
  ASSIGN: 'Assign',
  RELEASE: 'Release',
  PROVISION: 'Provision VM',
  TEARDOWN: 'Delete VM',
  START_VM: 'Start VM',
  STOP_VM: 'Stop VM',
};

export function operationTypeLabel(type: string): string {
  return TYPE[type] ?? type;
}
