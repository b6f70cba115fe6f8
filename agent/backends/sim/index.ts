// A simulated KVM host: devices, vfio-pci bindings and libvirt-like domains in memory (or in
// a state file), with the latency of real hosts and faults injected on demand. It enforces
// what the kernel and libvirt would (a device passed to one VM cannot go to another, an IOMMU
// group must be whole on vfio-pci before QEMU takes a function of it) and, like the real
// backend, every call is idempotent.

import { existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import type { ConsoleHandlers, ConsoleSession, DiscoveredDevice, HostBackend, PciIdentity, HostdevRef, HostFacts, ObservedDevice, ReportedVm, VmSpec } from '../../backend.ts';
import { VFIO_DRIVER } from './catalog.ts';
import { GuestShell } from './guest-shell.ts';
import { guestScreen } from './guest-screen.ts';
import { RfbServer } from './rfb-server.ts';
import {
  buildDevices,
  latencyOf,
  parseFault,
  type SimDevice,
  type SimFault,
  type SimHostConfig,
  type SimOperation,
} from './config.ts';

export { DEFAULT_SIM_CONFIG, parseSimConfig, SimConfigError, SIM_OPERATIONS } from './config.ts';
export type { SimDevice, SimFault, SimHostConfig, SimOperation } from './config.ts';
export { GPU_MODELS, NVME_MODELS, USB_MODELS } from './catalog.ts';

/** A libvirt domain as the simulated host keeps it. */
export interface SimDomain {
  name: string;
  cores: number;
  memoryMb: number;
  diskGb: number;
  /** Addresses of the hostdevs in its definition. */
  devices: string[];
  running: boolean;
}

export interface SimSnapshot {
  devices: SimDevice[];
  /** Devices pulled out of the host; `plugDevice` puts them back. */
  unplugged: SimDevice[];
  domains: SimDomain[];
}

interface StateFile extends SimSnapshot {
  version: 1;
}

export interface SimLogger {
  info(fields: object, message: string): void;
  warn(fields: object, message: string): void;
}

export interface SimBackendOptions {
  /**
   * Called when a `die` fault hits. The call then never returns, as if the process had
   * frozen; the CLI kills its own process here, so the agent really dies.
   */
  onDie?: (info: { operation: SimOperation; phase: 'before' | 'after' }) => void;
  logger?: SimLogger;
}

type ActiveFault = SimFault & { operation: SimOperation; times: number };

/** `1-2`, `1-2.3`: how USB devices are addressed, where PCI functions have a BDF. */
const isUsbPortPath = (address: string) => /^\d+-\d+(\.\d+)*$/.test(address);

const VM_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$/;

/** mulberry32: a tiny seeded generator, so probabilistic faults repeat run after run. */
function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function describe(device: { kind: string; address: string }) {
  return `${device.kind === 'USB' ? 'USB device' : device.kind === 'NVME' ? 'NVMe' : device.kind === 'GPU' ? 'GPU' : 'PCI device'} ${device.address}`;
}

function publicView(device: SimDevice): DiscoveredDevice {
  const { hostDriver: _hostDriver, ...seen } = device;
  return { ...seen };
}

export class SimBackend implements HostBackend {
  readonly config: SimHostConfig;
  readonly #options: SimBackendOptions;
  readonly #random: () => number;
  readonly #listeners = new Set<() => void>();
  readonly #calls = new Map<SimOperation, number>();
  #faults: ActiveFault[];
  #devices: SimDevice[];
  #unplugged: SimDevice[];
  #domains = new Map<string, SimDomain>();
  /** Open console sessions by domain, ended when their domain stops or goes. */
  /** Each running domain's open console sessions (serial and graphics), ended with it. */
  #consoles = new Map<string, Set<Pick<ConsoleHandlers, 'end'>>>();

  constructor(config: SimHostConfig = {}, options: SimBackendOptions = {}) {
    this.config = config;
    this.#options = options;
    this.#random = seededRandom(config.seed ?? 1);
    this.#faults = (config.faults ?? []).map((fault, index) => parseFault(`faults[${index}]`, fault) as ActiveFault);
    const saved = config.stateFile && existsSync(config.stateFile) ? this.#load(config.stateFile) : null;
    if (saved) {
      this.#devices = saved.devices;
      this.#unplugged = saved.unplugged;
      for (const domain of saved.domains) this.#domains.set(domain.name, domain);
    } else {
      // Written at the first change, so merely looking (`passthru-agent inventory`) leaves no file.
      this.#devices = buildDevices(config);
      this.#unplugged = [];
    }
  }

  // --- HostBackend -------------------------------------------------------------------------

  async facts(): Promise<HostFacts> {
    return {
      cpuCores: this.config.cpuCores ?? 64,
      memoryMb: this.config.memoryMb ?? 256 * 1024,
      iommuEnabled: this.config.iommuEnabled ?? true,
    };
  }

  inventory(): Promise<DiscoveredDevice[]> {
    return this.#perform('inventory', () => {
      const pci = this.#devices.filter((d) => d.kind !== 'USB').sort((a, b) => a.address.localeCompare(b.address));
      const usb = this.#devices.filter((d) => d.kind === 'USB').sort((a, b) => a.address.localeCompare(b.address));
      return [...pci, ...usb].map(publicView);
    }, false);
  }

  // No latency or faults: the real backend reads a few sysfs links, which does not fail like a bind.
  async observe(devices: HostdevRef[]): Promise<ObservedDevice[]> {
    return devices.map(({ address }) => {
      const device = this.#find(address);
      return device ? { address, driver: device.driver, present: true } : { address, driver: null, present: false };
    });
  }

  /**
   * The domains, as the linux backend reads them from libvirt: a PCI hostdev by its address
   * whether or not the device is still in the host, a USB one only while the device is
   * plugged in (libvirt names it by vendor and product id, which only a present device maps
   * back to a port).
   */
  vms(): Promise<ReportedVm[]> {
    return this.#perform('vms', () => {
      const usbPresent = new Set(this.#devices.filter((d) => d.kind === 'USB').map((d) => d.address));
      return [...this.#domains.values()]
        .sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0))
        .map((domain) => ({
          name: domain.name,
          running: domain.running,
          deviceAddresses: domain.devices.filter((address) => !isUsbPortPath(address) || usbPresent.has(address)),
        }));
    }, false);
  }

  detach(refs: HostdevRef[]): Promise<void> {
    return this.#perform('detach', () => {
      const present = refs.map((ref) => this.#requirePresent(ref));
      const pci = present.filter((device) => device.kind !== 'USB');
      if (pci.length > 0 && !(this.config.iommuEnabled ?? true)) {
        throw new Error(`IOMMU is off on this host; boot with intel_iommu=on or amd_iommu=on before detaching ${pci.map((d) => d.address).join(', ')}`);
      }
      for (const device of pci) {
        if (device.inUse && device.driver !== VFIO_DRIVER) {
          throw new Error(`${describe(device)} holds ${device.inUse}; the host uses it, so it cannot be detached`);
        }
      }
      // Everything checked first: a refusal changes nothing. USB devices are never rebound.
      for (const device of pci) {
        if (device.driver === VFIO_DRIVER) continue;
        if (device.driver) device.hostDriver = device.driver;
        device.driver = VFIO_DRIVER;
      }
    });
  }

  attach(refs: HostdevRef[]): Promise<void> {
    return this.#perform('attach', () => {
      const present = refs.map((ref) => this.#requirePresent(ref));
      for (const device of present) {
        const owner = this.#domainHolding(device.address);
        if (owner) throw new Error(`${describe(device)} is passed through to VM ${owner.name}; release it first`);
      }
      for (const device of present) {
        if (device.kind !== 'USB' && device.driver === VFIO_DRIVER) device.driver = device.hostDriver;
      }
    });
  }

  provisionVm(vm: VmSpec): Promise<void> {
    return this.#perform('provisionVm', () => {
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
    });
  }

  teardownVm(vmName: string): Promise<void> {
    return this.#perform('teardownVm', () => {
      this.#checkName(vmName);
      this.#domains.delete(vmName);
      this.#endConsoles(vmName, `VM ${vmName} was torn down`);
    });
  }

  startVm(vmName: string): Promise<void> {
    return this.#perform('startVm', () => {
      const domain = this.#requireDomain(vmName);
      for (const address of domain.devices) {
        if (!this.#find(address)) throw new Error(`VM ${vmName} cannot start: its hostdev ${address} is not present on this host`);
      }
      domain.running = true;
    });
  }

  stopVm(vmName: string): Promise<void> {
    return this.#perform('stopVm', () => {
      this.#requireDomain(vmName).running = false;
      this.#endConsoles(vmName, `VM ${vmName} was stopped`);
    });
  }

  assignDevice(vmName: string, ref: HostdevRef): Promise<void> {
    return this.#perform('assignDevice', () => {
      const domain = this.#requireDomain(vmName);
      if (domain.devices.includes(ref.address)) return;
      this.#checkAssignable(ref, vmName);
      domain.devices.push(ref.address);
    });
  }

  releaseDevice(vmName: string, ref: HostdevRef): Promise<void> {
    return this.#perform('releaseDevice', () => {
      const domain = this.#requireDomain(vmName);
      domain.devices = domain.devices.filter((address) => address !== ref.address);
    });
  }

  /**
   * A simulated guest shell on a running domain. Its `lspci`/`lsusb` read the domain's
   * hostdevs when they run, so they list exactly what is passed through at that moment
   * (a USB device pulled out of the host is gone from the guest too).
   */
  async openConsole(vmName: string, handlers: ConsoleHandlers): Promise<ConsoleSession> {
    const domain = this.#requireDomain(vmName);
    if (!domain.running) throw new Error(`VM ${vmName} is not running; start it to use its console`);
    const open = this.#consoles.get(vmName) ?? new Set();
    this.#consoles.set(vmName, open);
    let closed = false;
    const session: ConsoleHandlers = {
      output: (data) => {
        if (!closed) handlers.output(data);
      },
      end: (reason) => {
        if (closed) return;
        closed = true;
        open.delete(session);
        handlers.end(reason);
      },
    };
    open.add(session);
    const shell = new GuestShell(vmName, () => this.#guestDevices(vmName), session.output, session.end);
    shell.start();
    return {
      write: (data) => {
        if (!closed) shell.input(data);
      },
      close: () => {
        closed = true;
        open.delete(session);
      },
    };
  }

  /**
   * The simulated guest's screen over RFB (guest-screen.ts): one coloured block per device
   * passed through to the domain, redrawn when that changes.
   */
  async openGraphics(vmName: string, handlers: ConsoleHandlers<Buffer>): Promise<ConsoleSession<Buffer>> {
    const domain = this.#requireDomain(vmName);
    if (!domain.running) throw new Error(`VM ${vmName} is not running; start it to use its console`);
    const open = this.#consoles.get(vmName) ?? new Set();
    this.#consoles.set(vmName, open);
    let closed = false;
    const stop = () => {
      closed = true;
      clearInterval(redraw);
      open.delete(session);
    };
    const session = {
      end: (reason: string) => {
        if (closed) return;
        stop();
        handlers.end(reason);
      },
    };
    open.add(session);
    const server = new RfbServer(guestScreen(vmName, () => this.#guestDevices(vmName)), (bytes) => {
      if (!closed) handlers.output(bytes);
    }, session.end);
    // A viewer waiting for a change sees an assigned or released device within a second.
    const redraw = setInterval(() => server.refresh(), 500);
    server.start();
    return {
      write: (bytes) => {
        if (!closed) server.receive(bytes);
      },
      close: stop,
    };
  }

  /** The devices passed through to domain `vmName` now, as the guest sees them. */
  #guestDevices(vmName: string): DiscoveredDevice[] {
    return (this.#domains.get(vmName)?.devices ?? []).flatMap((address) => {
      const device = this.#find(address);
      return device ? [publicView(device)] : [];
    });
  }

  // --- control: what tests and the demo do to the "hardware" -------------------------------

  /** Adds a fault; see SimFault. */
  injectFault(fault: SimFault): void {
    this.#faults.push(parseFault('fault', fault) as ActiveFault);
  }

  clearFaults(): void {
    this.#faults = [];
  }

  /** Pulls a device out of the host: the next inventory lacks it. */
  removeDevice(address: string): SimDevice {
    const device = this.#find(address);
    if (!device) throw new Error(`No device at ${address} on this host`);
    this.#devices = this.#devices.filter((d) => d !== device);
    this.#unplugged.push(device);
    this.#save();
    this.#options.logger?.info({ address }, 'simulated device removed');
    this.#changed();
    return { ...device };
  }

  /** Puts a removed device back, in its old slot or at `at` (a drive moved to another slot). */
  plugDevice(address: string, at: string = address): SimDevice {
    const device = this.#unplugged.find((d) => d.address === address);
    if (!device) throw new Error(`No removed device from ${address} to plug back in`);
    if (this.#find(at)) throw new Error(`Slot ${at} is taken`);
    this.#unplugged = this.#unplugged.filter((d) => d !== device);
    device.address = at;
    this.#devices.push(device);
    this.#save();
    this.#options.logger?.info({ address: at }, 'simulated device plugged in');
    this.#changed();
    return { ...device };
  }

  /** Plugs in a new device; it comes up on its host driver unless `driver` says otherwise. */
  addDevice(
    device: Omit<DiscoveredDevice, 'driver' | 'inUse' | PciIdentity> &
      Partial<Pick<DiscoveredDevice, PciIdentity>> & { driver?: string | null; hostDriver?: string | null; inUse?: string | null },
  ): SimDevice {
    if (this.#find(device.address)) throw new Error(`Slot ${device.address} is taken`);
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
    this.#save();
    this.#options.logger?.info({ address: device.address }, 'simulated device added');
    this.#changed();
    return { ...added };
  }

  /** Called when devices appear or disappear (like a udev event), so the agent can report at once. */
  onInventoryChange(listener: () => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  snapshot(): SimSnapshot {
    return structuredClone({ devices: this.#devices, unplugged: this.#unplugged, domains: [...this.#domains.values()] });
  }

  domain(name: string): SimDomain | null {
    const domain = this.#domains.get(name);
    return domain ? structuredClone(domain) : null;
  }

  device(address: string): SimDevice | null {
    const device = this.#find(address);
    return device ? { ...device } : null;
  }

  /** How many times a backend call ran (faulted ones included). */
  callCount(operation: SimOperation): number {
    return this.#calls.get(operation) ?? 0;
  }

  // --- internals ---------------------------------------------------------------------------

  async #perform<T>(operation: SimOperation, change: () => T, mutates = true): Promise<T> {
    this.#calls.set(operation, (this.#calls.get(operation) ?? 0) + 1);
    const latency = latencyOf(this.config, operation);
    if (latency > 0) await sleep(latency);
    const fault = this.#takeFault(operation);
    if (fault?.effect === 'fail') {
      this.#options.logger?.warn({ operation }, 'simulated fault: failing the call');
      throw new Error(fault.message ?? `simulated fault: ${operation} failed`);
    }
    if (fault?.effect === 'die' && fault.phase === 'before') await this.#die(operation, 'before');
    const result = change();
    if (mutates) this.#save();
    if (fault?.effect === 'die') await this.#die(operation, 'after');
    return result;
  }

  #takeFault(operation: SimOperation): ActiveFault | null {
    for (const fault of this.#faults) {
      if (fault.operation !== operation) continue;
      if (fault.probability !== undefined) {
        if (this.#random() < fault.probability) return fault;
        continue;
      }
      if (fault.times > 0) {
        fault.times -= 1;
        if (fault.times === 0) this.#faults = this.#faults.filter((f) => f !== fault);
        return fault;
      }
    }
    return null;
  }

  async #die(operation: SimOperation, phase: 'before' | 'after'): Promise<never> {
    this.#options.logger?.warn({ operation, phase }, 'simulated fault: the agent dies mid-operation');
    this.#options.onDie?.({ operation, phase });
    return new Promise<never>(() => {});
  }

  #find(address: string): SimDevice | undefined {
    return this.#devices.find((device) => device.address === address);
  }

  #requirePresent(ref: HostdevRef): SimDevice {
    const device = this.#find(ref.address);
    if (!device) throw new Error(`${describe(ref)} is not present on this host`);
    return device;
  }

  #endConsoles(vmName: string, reason: string) {
    for (const session of [...(this.#consoles.get(vmName) ?? [])]) session.end(reason);
    this.#consoles.delete(vmName);
  }

  #domainHolding(address: string): SimDomain | undefined {
    for (const domain of this.#domains.values()) if (domain.devices.includes(address)) return domain;
    return undefined;
  }

  #checkName(name: string) {
    if (!VM_NAME.test(name)) throw new Error(`"${name.slice(0, 70)}" is not a valid VM name`);
  }

  #requireDomain(name: string): SimDomain {
    this.#checkName(name);
    const domain = this.#domains.get(name);
    if (!domain) throw new Error(`VM ${name} is not defined on this host`);
    return domain;
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

  #changed() {
    for (const listener of this.#listeners) listener();
  }

  #load(file: string): SimSnapshot {
    const parsed = JSON.parse(readFileSync(file, 'utf8')) as Partial<StateFile>;
    if (parsed.version !== 1 || !Array.isArray(parsed.devices) || !Array.isArray(parsed.domains)) {
      throw new Error(`${file} is not a simulated host state file (version 1); delete it to start from the config`);
    }
    return { devices: parsed.devices, unplugged: parsed.unplugged ?? [], domains: parsed.domains };
  }

  /** Written whole and renamed into place, so a process killed mid-write leaves the old state. */
  #save() {
    const file = this.config.stateFile;
    if (!file) return;
    const state: StateFile = { version: 1, devices: this.#devices, unplugged: this.#unplugged, domains: [...this.#domains.values()] };
    mkdirSync(dirname(file), { recursive: true });
    const temp = `${file}.${process.pid}.tmp`;
    writeFileSync(temp, JSON.stringify(state, null, 2));
    renameSync(temp, file);
  }
}
