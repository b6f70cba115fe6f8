import { describe, expect, it } from 'vitest';
import { vmStatus } from '../../server/db/schema/enums.ts';
import { VmBusyError } from '../../server/domain/errors.ts';
import { beginVm, finishVm, observePower, VM_TRANSITIONS, type VmAction } from '../../server/domain/vm-state.ts';

const STATUSES = vmStatus.enumValues;
const vm = (status: (typeof STATUSES)[number]) => ({ id: 'v1', name: 'vm-1', status });

describe('VM lifecycle', () => {
  for (const action of Object.keys(VM_TRANSITIONS) as VmAction[]) {
    const { from, via, to, onFailure } = VM_TRANSITIONS[action];
    for (const status of STATUSES) {
      if (from.includes(status)) {
        it(`${action} from ${status} goes through ${via} to ${to}, and ${onFailure ?? status} on failure`, () => {
          expect(beginVm(action, vm(status))).toBe(via);
          expect(finishVm(action, via, status, true)).toBe(to);
          expect(finishVm(action, via, status, false)).toBe(onFailure ?? status);
        });
      } else {
        it(`${action} from ${status} is refused`, () => {
          expect(() => beginVm(action, vm(status))).toThrow(VmBusyError);
        });
      }
    }
  }

  it('a failed provision leaves the VM FAILED', () => {
    expect(finishVm('PROVISION', 'PROVISIONING', null, false)).toBe('FAILED');
  });

  it('power follows the hypervisor only for settled VMs', () => {
    expect(observePower('RUNNING', false)).toBe('STOPPED');
    expect(observePower('STOPPED', true)).toBe('RUNNING');
    expect(observePower('RUNNING', true)).toBeNull();
    for (const status of STATUSES.filter((s) => s !== 'RUNNING' && s !== 'STOPPED')) {
      expect(observePower(status, true)).toBeNull();
      expect(observePower(status, false)).toBeNull();
    }
  });
});
