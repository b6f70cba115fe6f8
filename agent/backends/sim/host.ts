// The simulated host's hardware and libvirt state, and what the kernel and libvirt enforce on
// it: a device passed to one VM cannot go to another, an IOMMU group must be whole on
// vfio-pci before QEMU takes a function of it. Every change is checked whole before any of it
// is made, so a refusal changes nothing, and every change is idempotent, as on a real host.

import type { DiscoveredDevice, HostdevRef, PciIdentity, ReportedVm, VmSpec } from '../../backend.ts';
import { VFIO_DRIVER } from './catalog.ts';
import type { SimDevice } from './hardware.ts';
import type { SimDomain, SimSnapshot } from './state-file.ts';
import { vmNameProblem } from '../../../protocol/rules.ts';

/** A device plugged in by hand: it comes up on its host driver unless `driver` says otherwise. */
export type NewSimDevice = Omit<DiscoveredDevice, 'driver' | 'inUse' | PciIdentity> &
  Partial<Pick<DiscoveredDevice, PciIdentity>> & { driver?: string | null; hostDriver?: string | null; inUse?: string | null };

/** `1-2`, `1-2.3`: how USB devices are addressed, where PCI functions have a BDF. */
const isUsbPortPath = (address: string) => /^\d+-\d+(\.\d+)*$/.test(address);

function describe(device: { kind: string; address: string }) {
  return `${device.kind === 'USB' ? 'USB device' : device.kind === 'NVME' ? 'NVMe' : device.kind === 'GPU' ? 'GPU' : 'PCI device'} ${device.address}`;
}

export function publicView(device: SimDevice): DiscoveredDevice {
  const { hostDriver: _hostDriver, ...seen } = device;
  return { ...seen };
}

export class SimHost {
  readonly #iommuEnabled: boolean;
  #devices: SimDevice[];
  #unplugged: SimDevice[];
  readonly #domains = new Map<string, SimDomain>();

  constructor(state: SimSnapshot, iommuEnabled: boolean) {
    this.#iommuEnabled = iommuEnabled;
    this.#devices = state.devices;
    this.#unplugged = state.unplugged;
    for (const domain of state.domains) this.#domains.set(domain.name, domain);
  }

  /** The live state (not a copy): what the state file keeps. */
  get state(): SimSnapshot {
    return { devices: this.#devices, unplugged: this.#unplugged, domains: [...this.#domains.values()] };
  }

  /** PCI functions by address, then USB devices by port. */
  inventory(): DiscoveredDevice[] {
    const pci = this.#devices.filter((d) => d.kind !== 'USB').sort((a, b) => a.address.localeCompare(b.address));
    const usb = this.#devices.filter((d) => d.kind === 'USB').sort((a, b) => a.address.localeCompare(b.address));
    return [...pci, ...usb].map(publicView);
  }

  /**
   * The domains, as the linux backend reads them from libvirt: a PCI hostdev by its address
   * whether or not the device is still in the host, a USB one only while the device is
   * plugged in (libvirt names it by vendor and product id, which only a present device maps
   * back to a port).
   */
  vms(): ReportedVm[] {
    const usbPresent = new Set(this.#devices.filter((d) => d.kind === 'USB').map((d) => d.address));
    return [...this.#domains.values()]
      .sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0))
      .map((domain) => ({
        name: domain.name,
        running: domain.running,
        deviceAddresses: domain.devices.filter((address) => !isUsbPortPath(address) || usbPresent.has(address)),
      }));
  }

  find(address: string): SimDevice | undefined {
    return this.#devices.find((device) => device.address === address);
  }

  domain(name: string): SimDomain | undefined {
    return this.#domains.get(name);
  }

  /** The devices passed through to domain `vmName` now, as the guest sees them. */
  guestDevices(vmName: string): DiscoveredDevice[] {
    return (this.#domains.get(vmName)?.devices ?? []).flatMap((address) => {
      const device = this.find(address);
      return device ? [publicView(device)] : [];
    });
  }

  detach(refs: HostdevRef[]): void {
    const present = refs.map((ref) => this.#requirePresent(ref));
    const pci = present.filter((device) => device.kind !== 'USB');
    if (pci.length > 0 && !this.#iommuEnabled) {
      throw new Error(`IOMMU is off on this host; boot with intel_iommu=on or amd_iommu=on before detaching ${pci.map((d) => d.address).join(', ')}`);
    }
    for (const device of pci) {
      if (device.inUse && device.driver !== VFIO_DRIVER) {
        throw new Error(`${describe(device)} holds ${device.inUse}; the host uses it, so it cannot be detached`);
      }
    }
    // USB devices are never rebound.
    for (const device of pci) {
      if (device.driver === VFIO_DRIVER) continue;
      if (device.driver) device.hostDriver = device.driver;
      device.driver = VFIO_DRIVER;
    }
  }

  attach(refs: HostdevRef[]): void {
    const present = refs.map((ref) => this.#requirePresent(ref));
    for (const device of present) {
      const owner = this.#domainHolding(device.address);
      if (owner) throw new Error(`${describe(device)} is passed through to VM ${owner.name}; release it first`);
    }
    for (const device of present) {
      if (device.kind !== 'USB' && device.driver === VFIO_DRIVER) device.driver = device.hostDriver;
    }
  }

  define(vm: VmSpec): void {
    this.#checkName(vm.name);
    if (vm.cores < 1) throw new Error(`VM ${vm.name} needs at least one virtual CPU`);
    for (const ref of vm.devices) this.#checkAssignable(ref, vm.name);
    // Defining a domain that exists replaces its definition, as `virsh define` does.
    this.#domains.set(vm.name, {
      name: vm.name,
      cores: vm.cores,
      memoryMb: vm.memoryMb,
      diskGb: vm.diskGb,
      devices: vm.devices.map((ref) => ref.address),
      running: true,
    });
  }

  undefine(vmName: string): void {
    this.#checkName(vmName);
    this.#domains.delete(vmName);
  }

  start(vmName: string): void {
    const domain = this.requireDomain(vmName);
    for (const address of domain.devices) {
      if (!this.find(address)) throw new Error(`VM ${vmName} cannot start: its hostdev ${address} is not present on this host`);
    }
    domain.running = true;
  }

  stop(vmName: string): void {
    this.requireDomain(vmName).running = false;
  }

  assign(vmName: string, ref: HostdevRef): void {
    const domain = this.requireDomain(vmName);
    if (domain.devices.includes(ref.address)) return;
    this.#checkAssignable(ref, vmName);
    domain.devices.push(ref.address);
  }

  release(vmName: string, ref: HostdevRef): void {
    const domain = this.requireDomain(vmName);
    domain.devices = domain.devices.filter((address) => address !== ref.address);
  }

  /** Pulls a device out of the host: the next inventory lacks it. */
  unplug(address: string): SimDevice {
    const device = this.find(address);
    if (!device) throw new Error(`No device at ${address} on this host`);
    this.#devices = this.#devices.filter((d) => d !== device);
    this.#unplugged.push(device);
    return device;
  }

  /** Puts a removed device back, in its old slot or at `at` (a drive moved to another slot). */
  plug(address: string, at: string): SimDevice {
    const device = this.#unplugged.find((d) => d.address === address);
    if (!device) throw new Error(`No removed device from ${address} to plug back in`);
    if (this.find(at)) throw new Error(`Slot ${at} is taken`);
    this.#unplugged = this.#unplugged.filter((d) => d !== device);
    device.address = at;
    this.#devices.push(device);
    return device;
  }

  add(device: NewSimDevice): SimDevice {
    if (this.find(device.address)) throw new Error(`Slot ${device.address} is taken`);
    const driver = device.driver === undefined ? (device.hostDriver ?? null) : device.driver;
    const added: SimDevice = {
      ...device,
      classCode: device.classCode ?? null,
      subsystemVendorId: device.subsystemVendorId ?? null,
      subsystemProductId: device.subsystemProductId ?? null,
      revision: device.revision ?? null,
      driver,
      hostDriver: device.hostDriver ?? driver,
      inUse: device.inUse ?? null,
    };
    this.#devices.push(added);
    return added;
  }

  requireDomain(name: string): SimDomain {
    this.#checkName(name);
    const domain = this.#domains.get(name);
    if (!domain) throw new Error(`VM ${name} is not defined on this host`);
    return domain;
  }

  #requirePresent(ref: HostdevRef): SimDevice {
    const device = this.find(ref.address);
    if (!device) throw new Error(`${describe(ref)} is not present on this host`);
    return device;
  }

  #domainHolding(address: string): SimDomain | undefined {
    for (const domain of this.#domains.values()) if (domain.devices.includes(address)) return domain;
    return undefined;
  }

  #checkName(name: string) {
    const problem = vmNameProblem(name);
    if (problem) throw new Error(problem);
  }

  /** What QEMU and libvirt check before a device goes into a guest. */
  #checkAssignable(ref: HostdevRef, vmName: string) {
    const device = this.#requirePresent(ref);
    const owner = this.#domainHolding(device.address);
    if (owner && owner.name !== vmName) throw new Error(`${describe(device)} is already passed through to VM ${owner.name}`);
    if (device.kind === 'USB') return;
    if (device.driver !== VFIO_DRIVER) {
      throw new Error(`${describe(device)} is bound to ${device.driver ?? 'no driver'}, not vfio-pci; detach it into the pool first`);
    }
    if (device.iommuGroup === null) return;
    const straggler = this.#devices.find((d) => d.iommuGroup === device.iommuGroup && d.kind !== 'USB' && d.driver !== null && d.driver !== VFIO_DRIVER);
    if (straggler) {
      throw new Error(`IOMMU group ${device.iommuGroup} is not viable: ${straggler.address} is bound to ${straggler.driver}; detach the whole group`);
    }
    // VFIO opens a group for one guest: a function whose group-mate another guest has is busy.
    for (const mate of this.#devices) {
      if (mate === device || mate.kind === 'USB' || mate.iommuGroup !== device.iommuGroup) continue;
      const mateOwner = this.#domainHolding(mate.address);
      if (mateOwner && mateOwner.name !== vmName) {
        throw new Error(`IOMMU group ${device.iommuGroup} is in use by VM ${mateOwner.name} (${mate.address}); ${describe(device)} can only join it there`);
      }
    }
  }
}
