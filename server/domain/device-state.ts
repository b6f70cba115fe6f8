import { DEVICE_STATUSES, VM_HOLDING_DEVICE_STATUSES, type DeviceStatus } from '../../protocol/rules.ts';
import { InvalidTransitionError } from './errors.ts';

// The device state machine: the only place that decides a device's next status. Commands,
// operation outcomes and inventory reports all ask it; nothing sets a status by itself.
//
// ATTACHED --detach--> DETACHING --ok--> DETACHED --assign--> ASSIGNING --ok--> ASSIGNED
// ATTACHED <--ok-- ATTACHING <--attach-- DETACHED <--ok-- RELEASING <--release--
// A failed operation returns each device to the status it had before.

export type { DeviceStatus };
export type DeviceAction = 'DETACH' | 'ATTACH' | 'ASSIGN' | 'RELEASE';

export { DEVICE_STATUSES };

interface Transition {
  from: DeviceStatus;
  via: DeviceStatus;
  to: DeviceStatus;
}

export const TRANSITIONS: Record<DeviceAction, Transition> = {
  DETACH: { from: 'ATTACHED', via: 'DETACHING', to: 'DETACHED' },
  ATTACH: { from: 'DETACHED', via: 'ATTACHING', to: 'ATTACHED' },
  ASSIGN: { from: 'DETACHED', via: 'ASSIGNING', to: 'ASSIGNED' },
  RELEASE: { from: 'ASSIGNED', via: 'RELEASING', to: 'DETACHED' },
};

const IN_FLIGHT: ReadonlySet<DeviceStatus> = new Set(Object.values(TRANSITIONS).map((t) => t.via));

/** Statuses in which the device row names a VM (the devices_vm_matches_status CHECK is built from the same list). */
const HOLDS_VM: ReadonlySet<DeviceStatus> = new Set(VM_HOLDING_DEVICE_STATUSES);

export function isInFlight(status: DeviceStatus): boolean {
  return IN_FLIGHT.has(status);
}

export function holdsVm(status: DeviceStatus): boolean {
  return HOLDS_VM.has(status);
}

export interface DeviceFacts {
  id: string;
  kind: string;
  address: string;
  status: DeviceStatus;
  vmName?: string | null;
}

const VERB: Record<DeviceAction, string> = { DETACH: 'detached', ATTACH: 'attached', ASSIGN: 'assigned', RELEASE: 'released' };

function refusalHint(action: DeviceAction, device: DeviceFacts): string {
  const held = device.vmName ? ` to ${device.vmName}` : '';
  switch (device.status) {
    case 'ASSIGNED':
      return `is assigned${held}; release it first`;
    case 'ATTACHED':
      return action === 'ASSIGN' ? 'is attached to the host; detach it into the pool first' : 'is already attached to the host';
    case 'DETACHED':
      return action === 'RELEASE' ? 'is not assigned to any VM' : 'is already detached into the pool';
    case 'MISSING':
      return 'is missing from its host\'s inventory; wait for it to reappear';
    default:
      return `is busy (${device.status.toLowerCase()}); wait for its operation to finish`;
  }
}

/** The actions in the table's order. */
export const DEVICE_ACTIONS = Object.keys(TRANSITIONS).filter((key): key is DeviceAction => key in TRANSITIONS);

/** Whether the table has `action` start from `status`: what a device in that status offers. */
export function startsFrom(action: DeviceAction, status: DeviceStatus): boolean {
  return TRANSITIONS[action].from === status;
}

/** Why `action` cannot start on the device now (what the operator must do first), or null when it can. */
export function transitionRefusal(action: DeviceAction, device: DeviceFacts): string | null {
  if (startsFrom(action, device.status)) return null;
  return `${device.kind} ${device.address} cannot be ${VERB[action]}: it ${refusalHint(action, device)}`;
}

/**
 * The in-flight status a device enters when `action` starts, or an InvalidTransitionError
 * explaining what the operator must do first.
 */
export function begin(action: DeviceAction, device: DeviceFacts): DeviceStatus {
  const refusal = transitionRefusal(action, device);
  if (refusal) throw new InvalidTransitionError(device.id, device.status, refusal);
  return TRANSITIONS[action].via;
}

/**
 * The status after an operation ends. `fromStatus` is what the device had when the operation
 * began. A device that left the in-flight status meanwhile (an inventory report settled it)
 * keeps what it has: returns null.
 */
export function finish(action: DeviceAction, current: DeviceStatus, fromStatus: DeviceStatus, succeeded: boolean): DeviceStatus | null {
  const transition = TRANSITIONS[action];
  if (current !== transition.via) return null;
  return succeeded ? transition.to : fromStatus;
}

/**
 * A success the agent reports after the server timed the operation out and reverted the device:
 * applied (the transition's target) only if the device is still where the timeout put it back;
 * null when something has moved it since.
 */
export function finishLate(action: DeviceAction, current: DeviceStatus, fromStatus: DeviceStatus): DeviceStatus | null {
  return current === fromStatus ? TRANSITIONS[action].to : null;
}

export interface Observation {
  /** The device is in the agent's latest inventory. */
  present: boolean;
  /** The agent sees it bound to vfio-pci. */
  boundToVfio: boolean;
  /** USB devices stay on their host driver while pooled (libvirt passes them by ID), so the driver says nothing. */
  driverIsMeaningful: boolean;
}

/**
 * What an inventory report says the status really is; null when the report does not change it.
 * The agent's view of what is bound where wins over what the server believed, except for
 * devices with an operation in flight, which that operation (or its timeout) settles.
 */
export function observe(current: DeviceStatus | null, seen: Observation): DeviceStatus | null {
  if (!seen.present) return current === 'MISSING' || current === null ? null : 'MISSING';
  if (current !== null && isInFlight(current)) return null;
  if (!seen.driverIsMeaningful) {
    if (current === null || current === 'MISSING') return 'ATTACHED';
    return null;
  }
  const hostView: DeviceStatus = seen.boundToVfio ? 'DETACHED' : 'ATTACHED';
  // An assigned device still on vfio-pci is exactly as believed.
  if (current === 'ASSIGNED' && seen.boundToVfio) return null;
  return current === hostView ? null : hostView;
}

/**
 * What the hypervisor's domains say about a settled device: DETACHED but passed through to a
 * VM means ASSIGNED; ASSIGNED but in no domain means back in the pool. Null when they agree,
 * and for in-flight or host-attached devices, which the domains do not settle.
 */
export function observeAssignment(current: DeviceStatus, inDomain: boolean): DeviceStatus | null {
  if (current === 'DETACHED' && inDomain) return 'ASSIGNED';
  if (current === 'ASSIGNED' && !inDomain) return 'DETACHED';
  return null;
}

/** The device action an operation type performs on its devices. */
export const ACTION_OF_OPERATION = {
  DETACH: 'DETACH',
  ATTACH: 'ATTACH',
  ASSIGN: 'ASSIGN',
  RELEASE: 'RELEASE',
  PROVISION: 'ASSIGN',
  TEARDOWN: 'RELEASE',
  START_VM: null,
  STOP_VM: null,
} as const satisfies Record<string, DeviceAction | null>;
