// Moving PCI functions between their host driver and vfio-pci through sysfs, the way the
// kernel documents it: set driver_override, unbind, ask the kernel to probe again.
//
// USB devices are never rebound: libvirt's `hostdev type='usb'` hands them to QEMU through
// usbfs while they stay on the host's usb driver.

import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { VFIO_DRIVER } from '../../../protocol/rules.ts';
import type { HostdevRef } from '../../backend.ts';
import { iommuEnabled, pciDevicesDir } from './discovery.ts';
import type { DriverMemory } from './driver-memory.ts';
import { hostUses } from './host-usage.ts';
import type { BackendLogger } from './logger.ts';
import { parsePciAddress } from './pci-address.ts';
import { exists, readAttribute, readLinkName } from './sysfs.ts';

/** How a refusal names the device: `NVMe 0000:03:00.0 (nvme0n1p2) is mounted at /`. */
const DEVICE_LABEL: Record<HostdevRef['kind'], string> = { GPU: 'GPU', NVME: 'NVMe', PCI: 'PCI device', USB: 'USB device' };
/** What `driver_override` reads when no override is set. */
const NO_OVERRIDE = '(null)';

export interface VfioBindingOptions {
  sysfsRoot: string;
  procRoot: string;
  memory: DriverMemory;
  logger: BackendLogger;
}

export class VfioBinding {
  readonly #sysfsRoot: string;
  readonly #procRoot: string;
  readonly #memory: DriverMemory;
  readonly #logger: BackendLogger;

  constructor(options: VfioBindingOptions) {
    this.#sysfsRoot = options.sysfsRoot;
    this.#procRoot = options.procRoot;
    this.#memory = options.memory;
    this.#logger = options.logger;
  }

  /** Binds every PCI function to vfio-pci, after checking all of them, so a refusal changes nothing. */
  async detach(devices: readonly HostdevRef[]): Promise<void> {
    const addresses = await this.#pciAddresses(devices);
    if (addresses.length === 0) return;
    if (!(await iommuEnabled(this.#sysfsRoot))) {
      throw new Error(
        `IOMMU is off on this host (${join(this.#sysfsRoot, 'kernel/iommu_groups')} is empty); ` +
          `boot with intel_iommu=on or amd_iommu=on before detaching ${addresses.join(', ')}`,
      );
    }
    if (!(await exists(this.#driverDir(VFIO_DRIVER)))) {
      throw new Error('the vfio-pci driver is not loaded on this host; run `modprobe vfio-pci` and add it to /etc/modules');
    }
    for (const device of devices) if (device.kind !== 'USB') await this.#refuseIfHostUses(device);
    for (const address of addresses) await this.#bindToVfio(address);
  }

  /** Gives every PCI function back to the driver it had before detach. */
  async attach(devices: readonly HostdevRef[]): Promise<void> {
    const addresses = await this.#pciAddresses(devices);
    for (const address of addresses) await this.#returnToHost(address);
  }

  async #pciAddresses(devices: readonly HostdevRef[]): Promise<string[]> {
    const addresses = devices.filter((device) => device.kind !== 'USB').map((device) => device.address);
    for (const address of addresses) {
      parsePciAddress(address);
      if (!(await exists(this.#deviceDir(address)))) {
        throw new Error(`PCI device ${address} is not present under ${pciDevicesDir(this.#sysfsRoot)}`);
      }
    }
    return addresses;
  }

  async #refuseIfHostUses(device: HostdevRef): Promise<void> {
    const uses = await hostUses(this.#sysfsRoot, this.#procRoot, this.#deviceDir(device.address));
    if (uses.length === 0) return;
    const label = DEVICE_LABEL[device.kind];
    throw new Error(uses.map((use) => `${label} ${device.address} (${use.subject}) ${use.problem}`).join('. '));
  }

  async #bindToVfio(address: string): Promise<void> {
    const dir = this.#deviceDir(address);
    const driver = await readLinkName(join(dir, 'driver'));
    if (driver === VFIO_DRIVER) {
      this.#logger.info({ address }, 'already bound to vfio-pci');
      return;
    }
    // Remember first: if the agent dies right after the unbind, attach still knows the way back.
    if (driver) await this.#memory.remember(address, driver);
    await writeFile(join(dir, 'driver_override'), VFIO_DRIVER);
    if (driver) await writeFile(join(dir, 'driver/unbind'), address);
    await writeFile(join(this.#sysfsRoot, 'bus/pci/drivers_probe'), address);
    this.#logger.info({ address, from: driver }, 'bound to vfio-pci');
  }

  async #returnToHost(address: string): Promise<void> {
    const dir = this.#deviceDir(address);
    // A stale override would send the device back to vfio-pci at the next probe or reboot.
    const override = await readAttribute(join(dir, 'driver_override'));
    if (override && override !== NO_OVERRIDE) await writeFile(join(dir, 'driver_override'), '\n');

    const driver = await readLinkName(join(dir, 'driver'));
    if (driver !== null && driver !== VFIO_DRIVER) {
      this.#logger.info({ address, driver }, 'already on a host driver');
      await this.#memory.forget(address);
      return;
    }
    if (driver === VFIO_DRIVER) await writeFile(join(dir, 'driver/unbind'), address);

    const original = await this.#memory.original(address);
    const bind = original ? join(this.#driverDir(original), 'bind') : null;
    if (bind && (await exists(bind))) {
      await writeFile(bind, address);
    } else {
      // Unknown (bound to vfio-pci before this agent ran) or its module is gone: let the kernel pick.
      if (original) this.#logger.warn({ address, original }, 'original driver not loaded; probing instead');
      await writeFile(join(this.#sysfsRoot, 'bus/pci/drivers_probe'), address);
    }
    await this.#memory.forget(address);
    this.#logger.info({ address, to: original }, 'returned to the host');
  }

  #deviceDir(address: string): string {
    return join(pciDevicesDir(this.#sysfsRoot), address);
  }

  #driverDir(driver: string): string {
    return join(this.#sysfsRoot, 'bus/pci/drivers', driver);
  }
}
