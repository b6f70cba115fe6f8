// The backend for a real KVM host: devices from sysfs, vfio-pci binding through sysfs,
// VMs through libvirt's virsh.

import { setTimeout as sleep } from 'node:timers/promises';
import { join } from 'node:path';
import type { ConsoleHandlers, ConsoleSession, DiscoveredDevice, HostBackend, HostdevRef, HostFacts, ObservedDevice, ReportedVm, VmSpec } from '../../backend.ts';
import { DEFAULT_IDS_PATHS, type IdsPaths } from './device-names.ts';
import { discoverPci, discoverUsb, pciDevicesDir, readFacts, usbBusAddress, usbDevicesDir } from './discovery.ts';
import { exists, readLinkName } from './sysfs.ts';
import {
  domainXml,
  hasHostdev,
  hostdevXml,
  readDomainHostdevs,
  assertVirshAddressable,
  validateVmSpec,
  type DomainHostdevs,
  type UsbBusAddress,
  type UsbHostdevSource,
} from './domain-xml.ts';
import { DriverMemory } from './driver-memory.ts';
import { silentLogger, type BackendLogger } from './logger.ts';
import { VfioBinding } from './vfio-binding.ts';
import { isActive, Virsh } from './virsh.ts';
import { openSerialConsole, serialPty } from './serial-console.ts';
import { openVncConnection, vncAddress } from './vnc-display.ts';

export type { BackendLogger } from './logger.ts';
export type { IdsPaths } from './device-names.ts';

export interface LinuxVirshOptions {
  /** Default `virsh` from PATH. */
  binary?: string;
  /** Default `qemu:///system`. */
  uri?: string;
  /** Default `kvm`; libvirt's test driver (`test:///default`) needs `test`. */
  domainType?: string;
  /** Default `q35`; null leaves the machine type to libvirt. */
  machine?: string | null;
  /**
   * Storage pool for each VM's system disk, a qcow2 volume named `<vm>.qcow2`.
   * Default null: VMs are defined without a disk.
   */
  storagePool?: string | null;
  /** Default 120 s. */
  commandTimeoutMs?: number;
  /** How long stopVm waits for the guest to power off after ACPI shutdown before forcing it off. Default 120 s. */
  shutdownTimeoutMs?: number;
}

export interface LinuxBackendOptions {
  /** Default `/sys`. */
  sysfsRoot?: string;
  /** Default `/proc`. */
  procRoot?: string;
  /** Candidate pci.ids / usb.ids / udev hwdb files, first existing of each wins. Default Debian's paths. */
  idsPaths?: Partial<IdsPaths>;
  /** Where the original driver of each detached device is kept. Default `/var/lib/passthru-agent`. */
  stateDir?: string;
  virsh?: LinuxVirshOptions;
  /** A pino logger or anything with the same info/warn/error(fields, message). */
  logger?: BackendLogger;
}

const SHUTDOWN_POLL_MS = 500;

export class LinuxBackend implements HostBackend {
  readonly #sysfsRoot: string;
  readonly #procRoot: string;
  readonly #idsPaths: IdsPaths;
  readonly #logger: BackendLogger;
  readonly #binding: VfioBinding;
  readonly #virsh: Virsh;
  readonly #domainType: string;
  readonly #machine: string | null;
  readonly #storagePool: string | null;
  readonly #shutdownTimeoutMs: number;

  constructor(options: LinuxBackendOptions = {}) {
    this.#sysfsRoot = options.sysfsRoot ?? '/sys';
    this.#procRoot = options.procRoot ?? '/proc';
    this.#idsPaths = { ...DEFAULT_IDS_PATHS, ...options.idsPaths };
    this.#logger = options.logger ?? silentLogger;
    this.#binding = new VfioBinding({
      sysfsRoot: this.#sysfsRoot,
      procRoot: this.#procRoot,
      memory: new DriverMemory(options.stateDir ?? '/var/lib/passthru-agent'),
      logger: this.#logger,
    });
    const virsh = options.virsh ?? {};
    this.#virsh = new Virsh({
      binary: virsh.binary ?? 'virsh',
      uri: virsh.uri ?? 'qemu:///system',
      commandTimeoutMs: virsh.commandTimeoutMs ?? 120_000,
    });
    this.#domainType = virsh.domainType ?? 'kvm';
    this.#machine = virsh.machine === undefined ? 'q35' : virsh.machine;
    this.#storagePool = virsh.storagePool ?? null;
    this.#shutdownTimeoutMs = virsh.shutdownTimeoutMs ?? 120_000;
  }

  facts(): Promise<HostFacts> {
    return readFacts(this.#sysfsRoot, this.#procRoot);
  }

  async inventory(): Promise<DiscoveredDevice[]> {
    const [pci, usb] = await Promise.all([
      discoverPci(this.#sysfsRoot, this.#idsPaths, this.#procRoot),
      discoverUsb(this.#sysfsRoot, this.#idsPaths),
    ]);
    return [...pci, ...usb];
  }

  /**
   * Every domain on the connection, by UUID (a name virsh could mistake for an id or UUID
   * cannot pick the wrong domain), with its current XML: live when it runs, else persistent.
   */
  async vms(): Promise<ReportedVm[]> {
    const uuids = (output: string) => output.split('\n').map((line) => line.trim()).filter(Boolean);
    const all = uuids(await this.#virsh.run('list', '--all', '--uuid'));
    const active = new Set(uuids(await this.#virsh.run('list', '--uuid')));
    const domains: Array<DomainHostdevs & { running: boolean }> = [];
    for (const uuid of all) {
      let xml: string;
      try {
        xml = await this.#virsh.run('dumpxml', uuid);
      } catch (error) {
        // Undefined since it was listed (by hand: the agent's own work does not overlap reports).
        if ((error as Error).message.includes('failed to get domain')) continue;
        throw error;
      }
      domains.push({ ...readDomainHostdevs(xml), running: active.has(uuid) });
    }
    const usbAddress = domains.some((domain) => domain.usb.length > 0) ? await this.#usbResolver() : () => null;
    const vms: ReportedVm[] = [];
    for (const domain of domains) {
      const usb: string[] = [];
      for (const source of domain.usb) {
        const address = await usbAddress(source);
        if (address === null) {
          this.#logger.warn({ vm: domain.name, usb: source }, 'a USB hostdev of this VM matches no single device on the host; leaving it out of the report');
        } else usb.push(address);
      }
      vms.push({ name: domain.name, running: domain.running, deviceAddresses: [...domain.pci, ...usb] });
    }
    return vms.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  }

  /** Each device's sysfs entry and driver link, as discovery reads them. */
  observe(devices: HostdevRef[]): Promise<ObservedDevice[]> {
    return Promise.all(
      devices.map(async ({ kind, address }) => {
        const dir = join(kind === 'USB' ? usbDevicesDir(this.#sysfsRoot) : pciDevicesDir(this.#sysfsRoot), address);
        if (!(await exists(dir))) return { address, driver: null, present: false };
        return { address, driver: await readLinkName(join(dir, 'driver')), present: true };
      }),
    );
  }

  detach(devices: HostdevRef[]): Promise<void> {
    return this.#binding.detach(devices);
  }

  attach(devices: HostdevRef[]): Promise<void> {
    return this.#binding.attach(devices);
  }

  async provisionVm(vm: VmSpec): Promise<void> {
    validateVmSpec(vm);
    const disk = await this.#ensureDisk(vm);
    const xml = domainXml(vm, {
      type: this.#domainType,
      machine: this.#machine,
      disk,
      usbBusAddresses: await this.#usbBusAddresses(vm.devices),
    });
    // Same name, same derived UUID: defining again replaces the definition instead of failing.
    await this.#virsh.runWithXmlFile(xml, (file) => ['define', file]);
    if (!isActive(await this.#requireState(vm.name))) await this.#virsh.run('start', vm.name);
    this.#logger.info({ vm: vm.name, devices: vm.devices.map((d) => d.address) }, 'VM provisioned');
  }

  async teardownVm(vmName: string): Promise<void> {
    assertVirshAddressable(vmName);
    const state = await this.#virsh.domainState(vmName);
    if (state !== null) {
      if (isActive(state)) await this.#virsh.run('destroy', vmName);
      await this.#virsh.run('undefine', vmName);
    }
    const volume = this.#diskVolume(vmName);
    if (this.#storagePool && (await this.#virsh.volumeExists(this.#storagePool, volume))) {
      await this.#virsh.run('vol-delete', '--pool', this.#storagePool, volume);
    }
    this.#logger.info({ vm: vmName, wasDefined: state !== null }, 'VM torn down');
  }

  async startVm(vmName: string): Promise<void> {
    assertVirshAddressable(vmName);
    if (isActive(await this.#requireState(vmName))) return;
    await this.#virsh.run('start', vmName);
    this.#logger.info({ vm: vmName }, 'VM started');
  }

  /**
   * An ACPI shutdown first, so the guest flushes its disks; a guest that has not powered off
   * after shutdownTimeoutMs (hung, or no ACPI support) is forced off with destroy.
   */
  async stopVm(vmName: string): Promise<void> {
    assertVirshAddressable(vmName);
    if (!isActive(await this.#requireState(vmName))) return;
    await this.#virsh.run('shutdown', vmName);
    const deadline = Date.now() + this.#shutdownTimeoutMs;
    while (isActive(await this.#requireState(vmName))) {
      if (Date.now() >= deadline) {
        this.#logger.warn({ vm: vmName, waitedMs: this.#shutdownTimeoutMs }, 'guest ignored ACPI shutdown; forcing it off');
        await this.#virsh.run('destroy', vmName);
        break;
      }
      await sleep(SHUTDOWN_POLL_MS);
    }
    this.#logger.info({ vm: vmName }, 'VM stopped');
  }

  /** Adds the device to the running guest (if it runs) and to its persistent definition, each only where missing. */
  async assignDevice(vmName: string, device: HostdevRef): Promise<void> {
    assertVirshAddressable(vmName);
    const busAddress = (await this.#usbBusAddresses([device])).get(device.address);
    const { live, config } = await this.#hostdevPresence(vmName, device, busAddress);
    const flags = [...(live === false ? ['--live'] : []), ...(config ? [] : ['--config'])];
    if (flags.length === 0) return;
    await this.#virsh.runWithXmlFile(hostdevXml(device, busAddress), (file) => ['attach-device', vmName, file, ...flags]);
    this.#logger.info({ vm: vmName, device: device.address, flags }, 'device assigned');
  }

  async releaseDevice(vmName: string, device: HostdevRef): Promise<void> {
    assertVirshAddressable(vmName);
    const busAddress = (await this.#usbBusAddresses([device])).get(device.address);
    const { live, config } = await this.#hostdevPresence(vmName, device, busAddress);
    const flags = [...(live === true ? ['--live'] : []), ...(config ? ['--config'] : [])];
    if (flags.length === 0) return;
    await this.#virsh.runWithXmlFile(hostdevXml(device, busAddress), (file) => ['detach-device', vmName, file, ...flags]);
    this.#logger.info({ vm: vmName, device: device.address, flags }, 'device released');
  }

  /** The domain's serial console, from the pty libvirt gave its `<serial type='pty'>`. */
  async openConsole(vmName: string, handlers: ConsoleHandlers): Promise<ConsoleSession> {
    assertVirshAddressable(vmName);
    if (!isActive(await this.#requireState(vmName))) throw new Error(`VM ${vmName} is not running; start it to use its console`);
    const session = await openSerialConsole(await serialPty(this.#virsh, vmName), handlers);
    this.#logger.info({ vm: vmName }, 'console opened');
    return session;
  }

  /** The domain's graphics console: its VNC server, found with `virsh vncdisplay`. */
  async openGraphics(vmName: string, handlers: ConsoleHandlers<Buffer>): Promise<ConsoleSession<Buffer>> {
    assertVirshAddressable(vmName);
    if (!isActive(await this.#requireState(vmName))) throw new Error(`VM ${vmName} is not running; start it to use its console`);
    const session = await openVncConnection(await vncAddress(this.#virsh, vmName), handlers);
    this.#logger.info({ vm: vmName }, 'graphics console opened');
    return session;
  }

  /** Whether the running guest (`live`, null when it is not running) and the persistent definition have the device. */
  async #hostdevPresence(vmName: string, device: HostdevRef, busAddress: UsbBusAddress | undefined) {
    const running = isActive(await this.#requireState(vmName));
    const live = running ? hasHostdev(await this.#virsh.run('dumpxml', vmName), device, busAddress) : null;
    const config = hasHostdev(await this.#virsh.run('dumpxml', '--inactive', vmName), device, busAddress);
    return { live, config };
  }

  async #requireState(vmName: string): Promise<string> {
    const state = await this.#virsh.domainState(vmName);
    if (state === null) throw new Error(`VM ${vmName} is not defined on this host (${this.#virsh.uri})`);
    return state;
  }

  #diskVolume(vmName: string): string {
    return `${vmName}.qcow2`;
  }

  async #ensureDisk(vm: VmSpec): Promise<{ pool: string; volume: string } | null> {
    if (vm.diskGb === 0) return null;
    if (!this.#storagePool) {
      this.#logger.warn({ vm: vm.name, diskGb: vm.diskGb }, 'no storage pool configured; defining the VM without a disk');
      return null;
    }
    const disk = { pool: this.#storagePool, volume: this.#diskVolume(vm.name) };
    if (!(await this.#virsh.volumeExists(disk.pool, disk.volume))) {
      await this.#virsh.run('vol-create-as', disk.pool, disk.volume, `${vm.diskGb}G`, '--format', 'qcow2');
    }
    return disk;
  }

  /**
   * Maps a USB hostdev source back to the port path of the one present device it names (by
   * ids, and by bus/device number when the source has one); null when none or several match.
   */
  async #usbResolver(): Promise<(source: UsbHostdevSource) => Promise<string | null>> {
    const present = await discoverUsb(this.#sysfsRoot, this.#idsPaths);
    const busAddresses = new Map<string, Promise<UsbBusAddress | null>>();
    const busAddressOf = (address: string) => {
      let known = busAddresses.get(address);
      if (!known) {
        known = usbBusAddress(this.#sysfsRoot, address).catch(() => null);
        busAddresses.set(address, known);
      }
      return known;
    };
    return async (source) => {
      let candidates = present.filter(
        (device) => (source.vendorId === null || device.vendorId === source.vendorId) && (source.productId === null || device.productId === source.productId),
      );
      const pinned = source.busAddress;
      if (pinned) {
        const at = await Promise.all(candidates.map((device) => busAddressOf(device.address)));
        candidates = candidates.filter((_, index) => at[index]?.bus === pinned.bus && at[index]?.device === pinned.device);
      }
      return candidates.length === 1 ? candidates[0]!.address : null;
    };
  }

  /**
   * Bus/device numbers for the USB devices among `devices` whose vendor:product another
   * device on the host shares; libvirt cannot tell those apart by ids alone.
   */
  async #usbBusAddresses(devices: readonly HostdevRef[]): Promise<Map<string, UsbBusAddress>> {
    const pinned = new Map<string, UsbBusAddress>();
    const wanted = devices.filter((device) => device.kind === 'USB');
    if (wanted.length === 0) return pinned;
    const present = await discoverUsb(this.#sysfsRoot, this.#idsPaths);
    const ids = (device: { vendorId: string; productId: string }) => `${device.vendorId}:${device.productId}`.toLowerCase();
    for (const device of wanted) {
      const sameIds = present.filter((other) => ids(other) === ids(device));
      if (sameIds.length > 1 && sameIds.some((other) => other.address === device.address)) {
        pinned.set(device.address, await usbBusAddress(this.#sysfsRoot, device.address));
      }
    }
    return pinned;
  }
}
