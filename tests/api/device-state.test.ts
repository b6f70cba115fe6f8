import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openDatabase, type Database } from '../../server/db/client.ts';
import { checkDefinition } from '../support/constraints.ts';
import { createTestDatabase, type TestDatabase } from '../support/database.ts';
import {
  DEVICE_STATUSES,
  TRANSITIONS,
  begin,
  finish,
  finishLate,
  holdsVm,
  observe,
  observeAssignment,
  type DeviceAction,
  type DeviceStatus,
} from '../../server/domain/device-state.ts';
import { InvalidTransitionError } from '../../server/domain/errors.ts';

const ACTIONS = Object.keys(TRANSITIONS) as DeviceAction[];

// The whole table, written out by hand: the machine must match it exactly.
const ALLOWED: Record<DeviceAction, [DeviceStatus, DeviceStatus, DeviceStatus]> = {
  DETACH: ['ATTACHED', 'DETACHING', 'DETACHED'],
  ATTACH: ['DETACHED', 'ATTACHING', 'ATTACHED'],
  ASSIGN: ['DETACHED', 'ASSIGNING', 'ASSIGNED'],
  RELEASE: ['ASSIGNED', 'RELEASING', 'DETACHED'],
};

const device = (status: DeviceStatus) => ({ id: 'd1', kind: 'GPU', address: '0000:65:00.0', status, vmName: 'vm-12' });

describe('device state machine', () => {
  for (const action of ACTIONS) {
    for (const status of DEVICE_STATUSES) {
      const [from, via, to] = ALLOWED[action];
      if (status === from) {
        it(`${action} from ${status} goes through ${via}, to ${to} on success and back to ${from} on failure`, () => {
          expect(begin(action, device(status))).toBe(via);
          expect(finish(action, via, from, true)).toBe(to);
          expect(finish(action, via, from, false)).toBe(from);
        });
      } else {
        it(`${action} from ${status} is refused with an InvalidTransitionError`, () => {
          expect(() => begin(action, device(status))).toThrow(InvalidTransitionError);
        });
      }
    }
  }

  it('says what to do when an assigned device is detached', () => {
    expect(() => begin('DETACH', device('ASSIGNED'))).toThrow('GPU 0000:65:00.0 cannot be detached: it is assigned to vm-12; release it first');
  });

  it('leaves alone a device that left its in-flight status before the operation ended', () => {
    for (const action of ACTIONS) {
      const [from, via] = ALLOWED[action];
      for (const status of DEVICE_STATUSES.filter((s) => s !== via)) {
        expect(finish(action, status, from, true)).toBeNull();
        expect(finish(action, status, from, false)).toBeNull();
      }
    }
  });

  describe('against the database', () => {
    let database: TestDatabase;
    let opened: Database;
    beforeAll(async () => {
      database = await createTestDatabase();
      opened = await openDatabase({ databaseUrl: database.databaseUrl, dataDir: database.dataDir });
    });
    afterAll(async () => {
      await opened.close();
      await database.drop();
    });

    it('names a VM exactly in the statuses the database CHECK allows one', async () => {
      const definition = await checkDefinition(opened.db, 'devices_vm_matches_status');
      // CHECK (((status = ANY (ARRAY['ASSIGNING'::device_status, ...])) = (vm_id IS NOT NULL)))
      expect(definition).toMatch(/^CHECK \(\(\(status = ANY \(ARRAY\[[^\]]*\]\)\) = \(vm_id IS NOT NULL\)\)\)$/);
      const allowed = [...definition!.matchAll(/'(\w+)'::device_status/g)].map((match) => match[1]);
      expect(DEVICE_STATUSES.filter(holdsVm).sort()).toEqual(allowed.sort());
    });
  });

  it("the host's domains settle assignment only for settled pool devices", () => {
    for (const status of DEVICE_STATUSES) {
      const expected = status === 'DETACHED' ? 'ASSIGNED' : null;
      expect(observeAssignment(status, true), status).toBe(expected);
      expect(observeAssignment(status, false), status).toBe(status === 'ASSIGNED' ? 'DETACHED' : null);
    }
  });

  describe('inventory observations', () => {
    const pci = (present: boolean, boundToVfio: boolean) => ({ present, boundToVfio, driverIsMeaningful: true });
    const usb = (present: boolean) => ({ present, boundToVfio: false, driverIsMeaningful: false });

    it('a new device appears ATTACHED, or DETACHED when already on vfio-pci', () => {
      expect(observe(null, pci(true, false))).toBe('ATTACHED');
      expect(observe(null, pci(true, true))).toBe('DETACHED');
      expect(observe(null, usb(true))).toBe('ATTACHED');
    });

    it('a vanished device becomes MISSING from any status, once', () => {
      for (const status of DEVICE_STATUSES) {
        expect(observe(status, pci(false, false))).toBe(status === 'MISSING' ? null : 'MISSING');
      }
    });

    it("the agent's binding wins over what the server believed", () => {
      expect(observe('DETACHED', pci(true, false))).toBe('ATTACHED');
      expect(observe('ATTACHED', pci(true, true))).toBe('DETACHED');
      expect(observe('ASSIGNED', pci(true, false))).toBe('ATTACHED');
      expect(observe('MISSING', pci(true, true))).toBe('DETACHED');
    });

    it('agreeing reports change nothing', () => {
      expect(observe('ATTACHED', pci(true, false))).toBeNull();
      expect(observe('DETACHED', pci(true, true))).toBeNull();
      expect(observe('ASSIGNED', pci(true, true))).toBeNull();
    });

    it('in-flight devices are settled by their operation, not by a report', () => {
      for (const status of ['DETACHING', 'ATTACHING', 'ASSIGNING', 'RELEASING'] as const) {
        expect(observe(status, pci(true, false))).toBeNull();
        expect(observe(status, pci(true, true))).toBeNull();
      }
    });

    it('USB devices keep their pool status (their driver says nothing) and come back ATTACHED', () => {
      expect(observe('DETACHED', usb(true))).toBeNull();
      expect(observe('ASSIGNED', usb(true))).toBeNull();
      expect(observe('MISSING', usb(true))).toBe('ATTACHED');
    });
  });

  describe('a late success (the server timed the operation out and reverted the device)', () => {
    for (const action of ACTIONS) {
      const [from, , to] = ALLOWED[action];
      it(`${action} is applied (${from} -> ${to}) only while the device is still ${from}`, () => {
        expect(finishLate(action, from, from)).toBe(to);
        for (const status of DEVICE_STATUSES.filter((s) => s !== from)) expect(finishLate(action, status, from)).toBeNull();
      });
    }
  });
});
