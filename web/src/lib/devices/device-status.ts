import type { IconName } from '../ui/icons.ts';
import type { Tone } from '../ui/tones.ts';
import type { DeviceAction, DeviceKind, DeviceStatus } from './fragments.ts';

export interface StatusView {
  label: string;
  tone: Tone;
  /** An operation is in flight: the badge animates and no action is offered. */
  busy: boolean;
  description: string;
}

export const DEVICE_STATUS: Record<DeviceStatus, StatusView> = {
  ATTACHED: { label: 'Attached', tone: 'neutral', busy: false, description: 'Bound to its host OS driver' },
  DETACHED: { label: 'Detached', tone: 'info', busy: false, description: 'In the pool (vfio-pci), free for a VM on this host' },
  ASSIGNED: { label: 'Assigned', tone: 'ok', busy: false, description: 'Passed through to a VM' },
  DETACHING: { label: 'Detaching…', tone: 'warn', busy: true, description: 'Being bound to vfio-pci' },
  ATTACHING: { label: 'Attaching…', tone: 'warn', busy: true, description: 'Being given back to the host driver' },
  ASSIGNING: { label: 'Assigning…', tone: 'warn', busy: true, description: 'Being passed through to a VM' },
  RELEASING: { label: 'Releasing…', tone: 'warn', busy: true, description: 'Being taken back from its VM into the pool' },
  MISSING: { label: 'Missing', tone: 'danger', busy: false, description: "Absent from its host's latest inventory" },
};

// Which actions a device offers, and whether each may start, is the server's answer
// (Device.actions, from its state machine); the console only names and draws them.
export const DEVICE_ACTION: Record<DeviceAction, { label: string; icon: IconName; verb: string; doing: string; danger?: boolean }> = {
  DETACH: { label: 'Detach device', icon: 'detach', verb: 'Detach', doing: 'Detaching' },
  ATTACH: { label: 'Attach device', icon: 'attach', verb: 'Attach', doing: 'Attaching' },
  ASSIGN: { label: 'Assign device', icon: 'assign', verb: 'Assign', doing: 'Assigning' },
  RELEASE: { label: 'Release', icon: 'release', verb: 'Release', doing: 'Releasing' },
};

export const DEVICE_KIND: Record<DeviceKind, { label: string; plural: string; icon: IconName }> = {
  GPU: { label: 'GPU', plural: 'GPUs', icon: 'gpu' },
  USB: { label: 'USB', plural: 'USB devices', icon: 'usb' },
  NVME: { label: 'NVMe', plural: 'NVMe drives', icon: 'nvme' },
  PCI: { label: 'PCI', plural: 'Other PCI', icon: 'pci' },
};

/** Why the menu is empty (the server offers no action in this status), for its tooltip. */
export function noActionReason(status: DeviceStatus): string {
  if (DEVICE_STATUS[status].busy) return 'An operation is in flight for this device';
  if (status === 'MISSING') return 'The device is missing from its host';
  return 'No actions available';
}
