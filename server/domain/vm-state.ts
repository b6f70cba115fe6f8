import type { VmStatus } from '../../protocol/rules.ts';
import { VmBusyError } from './errors.ts';

// VM lifecycle, kept beside the device machine and shaped like it: an action moves a VM from
// a settled status through an in-flight one; the agent's outcome completes or reverts it.

export type { VmStatus };
export type VmAction = 'PROVISION' | 'START' | 'STOP' | 'TEARDOWN';

interface VmTransition {
  from: readonly VmStatus[];
  via: VmStatus;
  to: VmStatus;
  /** Status when the operation fails; null means "back to where it was". */
  onFailure: VmStatus | null;
}

export const VM_TRANSITIONS: Record<VmAction, VmTransition> = {
  PROVISION: { from: [], via: 'PROVISIONING', to: 'RUNNING', onFailure: 'FAILED' },
  START: { from: ['STOPPED'], via: 'STARTING', to: 'RUNNING', onFailure: null },
  STOP: { from: ['RUNNING'], via: 'STOPPING', to: 'STOPPED', onFailure: null },
  TEARDOWN: { from: ['RUNNING', 'STOPPED', 'FAILED'], via: 'DELETING', to: 'DELETED', onFailure: null },
};

export function beginVm(action: VmAction, vm: { id: string; name: string; status: VmStatus }): VmStatus {
  const transition = VM_TRANSITIONS[action];
  if (!transition.from.includes(vm.status)) {
    const what = action.toLowerCase();
    const why = vm.status === 'DELETED' ? 'it has been deleted' : `it is ${vm.status.toLowerCase()}`;
    throw new VmBusyError(vm.id, vm.status, `VM ${vm.name} cannot ${what === 'teardown' ? 'be deleted' : what}: ${why}`);
  }
  return transition.via;
}

export function finishVm(action: VmAction, current: VmStatus, fromStatus: VmStatus | null, succeeded: boolean): VmStatus | null {
  const transition = VM_TRANSITIONS[action];
  if (current !== transition.via) return null;
  if (succeeded) return transition.to;
  return transition.onFailure ?? fromStatus ?? transition.via;
}

/** A late success for the VM (see finishLate for devices): only from where the timeout put it back. */
export function finishVmLate(action: VmAction, current: VmStatus, fromStatus: VmStatus | null): VmStatus | null {
  const transition = VM_TRANSITIONS[action];
  return current === (transition.onFailure ?? fromStatus) ? transition.to : null;
}

export const VM_ACTION_OF_OPERATION = {
  DETACH: null,
  ATTACH: null,
  ASSIGN: null,
  RELEASE: null,
  PROVISION: 'PROVISION',
  TEARDOWN: 'TEARDOWN',
  START_VM: 'START',
  STOP_VM: 'STOP',
} as const satisfies Record<string, VmAction | null>;

/** Statuses an operation is moving a VM through: only its outcome settles them. */
const IN_FLIGHT: ReadonlySet<VmStatus> = new Set(Object.values(VM_TRANSITIONS).map((transition) => transition.via));

/**
 * A settled VM as its host's domains show it (level-triggered, like devices): the status it
 * takes, or null when it agrees or an operation is moving it. `domain` is null when the host has
 * no domain of its name.
 * - A domain's power wins over RUNNING/STOPPED, and brings a FAILED VM back (a provision the
 *   server gave up on that the host finished).
 * - A RUNNING or STOPPED VM without a domain is gone (a teardown the server gave up on that the
 *   host finished, or one removed on the host): DELETED. A FAILED one without a domain stays
 *   FAILED, for its operator to see and delete.
 */
export function observeVm(current: VmStatus, domain: { running: boolean } | null): VmStatus | null {
  if (IN_FLIGHT.has(current) || current === 'DELETED') return null;
  if (!domain) return current === 'FAILED' ? null : 'DELETED';
  const seen: VmStatus = domain.running ? 'RUNNING' : 'STOPPED';
  return seen === current ? null : seen;
}
