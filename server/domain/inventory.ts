import type { DeviceRow } from './device-store.ts';
import { ValidationError } from './errors.ts';
import { hexPattern, isHardwareId, matches, PCI_IDENTITY_DIGITS, PCI_IDENTITY_FIELDS } from '../../protocol/rules.ts';

// What an agent reports of its host, and the checks a report passes before it is reconciled
// with what the server believed (reconciliation.ts).

export interface HostFactsInput {
  cpuCores: number;
  memoryMb: number;
  iommuEnabled: boolean;
}

/** One device as the agent reports it: the devices table's descriptive columns (see its comments). */
export type ReportedDevice = Pick<
  DeviceRow,
  | 'kind'
  | 'address'
  | 'vendorId'
  | 'productId'
  | 'vendorName'
  | 'productName'
  | 'classCode'
  | 'subsystemVendorId'
  | 'subsystemProductId'
  | 'revision'
  | 'serial'
  | 'iommuGroup'
  | 'numaNode'
  | 'driver'
  | 'inUse'
>;

const MAX_REPORTED_DEVICES = 4096;
// Longer than a name: it lists every mount, swap and holder of the device's disks.
const MAX_IN_USE_LENGTH = 2000;

/** Refuses a report that is malformed or too large, before anything is read or written. */
export function validateReport(facts: HostFactsInput, reported: ReportedDevice[], reportedVms: ReportedVm[] | null) {
  if (!Number.isInteger(facts.cpuCores) || facts.cpuCores < 0 || facts.cpuCores > 65536) {
    throw new ValidationError('facts.cpuCores', 'cpuCores must be between 0 and 65536');
  }
  if (!Number.isInteger(facts.memoryMb) || facts.memoryMb < 0) throw new ValidationError('facts.memoryMb', 'memoryMb must not be negative');
  if (reported.length > MAX_REPORTED_DEVICES) {
    throw new ValidationError('devices', `An inventory holds at most ${MAX_REPORTED_DEVICES} devices, got ${reported.length}`);
  }
  if (reportedVms && reportedVms.length > MAX_REPORTED_DEVICES) throw new ValidationError('vms', `An inventory holds at most ${MAX_REPORTED_DEVICES} VMs`);
  const addresses = new Set<string>();
  for (const device of reported) {
    if (!/^[0-9A-Za-z:.\-]{1,64}$/.test(device.address)) throw new ValidationError('devices.address', `Device address "${device.address.slice(0, 70)}" is not a PCI or USB address`);
    if (addresses.has(device.address)) throw new ValidationError('devices.address', `Device address ${device.address} is reported twice`);
    addresses.add(device.address);
    if (!isHardwareId(device.vendorId) || !isHardwareId(device.productId)) {
      throw new ValidationError('devices.vendorId', `Device ${device.address} has IDs ${device.vendorId}:${device.productId}; expected 4 lowercase hex digits each`);
    }
    for (const field of PCI_IDENTITY_FIELDS) {
      const value = device[field];
      const digits = PCI_IDENTITY_DIGITS[field];
      if (value !== null && !matches(hexPattern(digits), value)) {
        throw new ValidationError(`devices.${field}`, `Device ${device.address} has ${field} "${value.slice(0, 16)}"; expected ${digits} lowercase hex digits`);
      }
    }
    for (const text of [device.vendorName, device.productName, device.serial, device.driver]) {
      if (text !== null && text.length > 256) throw new ValidationError('devices', `Device ${device.address} has a field longer than 256 characters`);
    }
    if (device.inUse !== null && device.inUse.length > MAX_IN_USE_LENGTH) {
      throw new ValidationError('devices.inUse', `Device ${device.address} has an inUse longer than ${MAX_IN_USE_LENGTH} characters`);
    }
  }
}

/** A hypervisor domain as the agent sees it. */
export interface ReportedVm {
  name: string;
  running: boolean;
  /** Addresses of the devices passed through to it, as in the device list. */
  deviceAddresses: string[];
}
