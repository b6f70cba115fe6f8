import { vmStatus } from '../db/schema/enums.ts';
import { VmBusyError } from './errors.ts';

// VM lifecycle, kept beside the device machine and shaped like it: an action moves a VM from
// a settled status through an in-flight one; the agent's outcome completes or reverts it.

export type VmStatus = (typeof vmStatus.enumValues)[number];
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

/** A settled VM's power as the hypervisor reports it; null when it agrees or the VM is mid-operation. */
export function observePower(current: VmStatus, running: boolean): VmStatus | null {
  if (current !== 'RUNNING' && current !== 'STOPPED') return null;
  const seen: VmStatus = running ? 'RUNNING' : 'STOPPED';
  return seen === current ? null : seen;
}
