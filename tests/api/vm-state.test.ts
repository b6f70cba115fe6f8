import { describe, expect, it } from 'vitest';
import { vmStatus } from '../../server/db/schema/enums.ts';
import { VmBusyError } from '../../server/domain/errors.ts';
import { beginVm, finishVm, finishVmLate, observeVm, VM_TRANSITIONS, type VmAction, type VmStatus } from '../../server/domain/vm-state.ts';

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

  // What the host's domains make of a VM: [status, domain (null: none of its name), becomes].
  const FOLLOWS_THE_HOST: [VmStatus, { running: boolean } | null, VmStatus | null][] = [
    ['RUNNING', { running: true }, null],
    ['RUNNING', { running: false }, 'STOPPED'],
    ['STOPPED', { running: true }, 'RUNNING'],
    ['STOPPED', { running: false }, null],
    // A provision the server gave up on that the host finished.
    ['FAILED', { running: true }, 'RUNNING'],
    ['FAILED', { running: false }, 'STOPPED'],
    ['FAILED', null, null],
    // A teardown the server gave up on that the host finished (or a domain removed on the host).
    ['RUNNING', null, 'DELETED'],
    ['STOPPED', null, 'DELETED'],
    ['DELETED', null, null],
    ['DELETED', { running: true }, null],
  ];
  for (const [status, domain, becomes] of FOLLOWS_THE_HOST) {
    it(`a ${status} VM ${domain ? `whose domain is ${domain.running ? 'running' : 'shut off'}` : 'without a domain'} ${becomes ? `becomes ${becomes}` : 'stays as it is'}`, () => {
      expect(observeVm(status, domain)).toBe(becomes);
    });
  }

  it('an operation in flight is settled by its outcome, never by the domains', () => {
    for (const { via } of Object.values(VM_TRANSITIONS)) {
      for (const domain of [null, { running: true }, { running: false }]) expect(observeVm(via, domain)).toBeNull();
    }
  });

  it('a late success is applied only from where the timeout put the VM back', () => {
    expect(finishVmLate('PROVISION', 'FAILED', null)).toBe('RUNNING');
    expect(finishVmLate('TEARDOWN', 'STOPPED', 'STOPPED')).toBe('DELETED');
    expect(finishVmLate('START', 'STOPPED', 'STOPPED')).toBe('RUNNING');
    expect(finishVmLate('STOP', 'RUNNING', 'RUNNING')).toBe('STOPPED');
    expect(finishVmLate('TEARDOWN', 'RUNNING', 'STOPPED')).toBeNull();
    expect(finishVmLate('PROVISION', 'DELETED', null)).toBeNull();
  });
});
