import type { Tone } from '../ui/tones.ts';

export interface VmStatusView {
  label: string;
  tone: Tone;
  busy: boolean;
}

const VIEWS: Record<string, VmStatusView> = {
  PROVISIONING: { label: 'Provisioning…', tone: 'warn', busy: true },
  RUNNING: { label: 'Running', tone: 'ok', busy: false },
  STOPPED: { label: 'Stopped', tone: 'neutral', busy: false },
  STARTING: { label: 'Starting…', tone: 'warn', busy: true },
  STOPPING: { label: 'Stopping…', tone: 'warn', busy: true },
  DELETING: { label: 'Deleting…', tone: 'warn', busy: true },
  DELETED: { label: 'Deleted', tone: 'neutral', busy: false },
  FAILED: { label: 'Failed', tone: 'danger', busy: false },
};

export function vmStatusView(status: string): VmStatusView {
  return VIEWS[status] ?? { label: status, tone: 'neutral', busy: false };
}

/** Which power and lifecycle actions a VM in this status allows (mirrors the server's VM machine). */
export function vmActions(status: string) {
  return {
    start: status === 'STOPPED',
    stop: status === 'RUNNING',
    delete: status === 'RUNNING' || status === 'STOPPED' || status === 'FAILED',
  };
}
