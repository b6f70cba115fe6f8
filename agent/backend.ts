// The contract between the agent's protocol code and a host backend (linux or sim).
// Everything the agent knows about hardware goes through this interface, so the simulated
// backend exercises exactly the same protocol paths as the real one.

export type DeviceKind = 'GPU' | 'USB' | 'NVME' | 'PCI';

/** One device as the host sees it right now. */
export interface DiscoveredDevice {
  kind: DeviceKind;
  /** PCI: full BDF `0000:65:00.0`; USB: sysfs port path `1-2.3`. */
  address: string;
  /** Four lowercase hex digits. */
  vendorId: string;
  productId: string;
  vendorName: string | null;
  productName: string | null;
  /** PCI class, subclass and programming interface, six lowercase hex digits (`030000`); null for USB. */
  classCode: string | null;
  /** PCI subsystem (board) vendor and device, four lowercase hex digits each; null for USB. */
  subsystemVendorId: string | null;
  subsystemProductId: string | null;
  /** PCI revision ID, two lowercase hex digits (`a1`); null for USB. */
  revision: string | null;
  serial: string | null;
  iommuGroup: number | null;
  numaNode: number | null;
  /** The kernel driver currently bound (`nvidia`, `vfio-pci`, `xhci_hcd`...), null when unbound. */
  driver: string | null;
  /**
   * What on the host holds it, so detaching it would take that away from the host ("nvme0n1p2
   * is mounted at /..."); null when the host does not use it. The server offers no detach meanwhile.
   */
  inUse: string | null;
}

/** The fields only PCI configuration space has: null for USB devices. */
export type PciIdentity = 'classCode' | 'subsystemVendorId' | 'subsystemProductId' | 'revision';

/** One device as the host sees it once an operation has ended: what completeOperation carries. */
export interface ObservedDevice {
  address: string;
  /** The kernel driver bound now, null when unbound. */
  driver: string | null;
  /** Whether the device is still in the host. */
  present: boolean;
}

export interface HostFacts {
  cpuCores: number;
  memoryMb: number;
  iommuEnabled: boolean;
}

/** A device handed to a VM, as the backend needs it to write libvirt hostdev entries. */
export interface HostdevRef {
  kind: DeviceKind;
  address: string;
  vendorId: string;
  productId: string;
}

/**
 * A libvirt domain as the hypervisor really has it, defined whether or not the server asked
 * for it. The server reconciles its VMs' device assignments and power state from these.
 */
export interface ReportedVm {
  name: string;
  /** Whether the domain is active (running, paused...), as opposed to shut off or crashed. */
  running: boolean;
  /**
   * The devices in its definition, by the address the inventory reports them under: PCI BDF
   * `0000:65:00.0`, USB port path `1-2`. A hostdev matching no present device is left out.
   */
  deviceAddresses: string[];
}

/**
 * One console session on a domain: text in and out (serial), or bytes (graphics, RFB). The linux
 * backend relays the domain's serial pty or VNC server; the sim backend runs a simulated guest
 * shell or a simulated screen.
 */
export interface ConsoleSession<Data = string> {
  write(data: Data): void;
  /** Ends the session from the agent's side; `end` is not called for it. */
  close(): void;
}

export interface ConsoleHandlers<Data = string> {
  output(data: Data): void;
  /** The guest side ended the session (exit, domain destroyed, pty closed), with why. */
  end(reason: string): void;
}

export interface VmSpec {
  name: string;
  cores: number;
  memoryMb: number;
  diskGb: number;
  devices: HostdevRef[];
}

/**
 * Every method is idempotent: running the same step twice (an agent that died mid-operation
 * and replays it) leaves the host as one run would. Failures throw an Error whose message is
 * shown to operators.
 */
export interface HostBackend {
  facts(): Promise<HostFacts>;
  inventory(): Promise<DiscoveredDevice[]>;
  /**
   * Every domain the hypervisor has, with its power state and passthrough devices: what the
   * host really has, whatever the server believes. Read-only.
   */
  vms(): Promise<ReportedVm[]>;
  /**
   * What the host sees now of these devices (driver, presence), read when an operation ends so
   * its outcome carries the new state and no inventory report has to follow. Read-only.
   */
  observe(devices: HostdevRef[]): Promise<ObservedDevice[]>;
  /** Bind devices (already expanded to whole IOMMU groups by the server) to vfio-pci. */
  detach(devices: HostdevRef[]): Promise<void>;
  /** Give devices back to the driver they had before detach. */
  attach(devices: HostdevRef[]): Promise<void>;
  /** Define and start a VM with its passthrough devices. */
  provisionVm(vm: VmSpec): Promise<void>;
  /** Destroy and undefine a VM; its devices stay bound to vfio-pci (back in the pool). */
  teardownVm(vmName: string): Promise<void>;
  startVm(vmName: string): Promise<void>;
  stopVm(vmName: string): Promise<void>;
  /** Hot-plug a device into an existing VM (live and persistent config). */
  assignDevice(vmName: string, device: HostdevRef): Promise<void>;
  /** Hot-unplug a device from an existing VM. */
  releaseDevice(vmName: string, device: HostdevRef): Promise<void>;
  /** Opens the serial console of a running domain; throws, with a reason shown to the operator, when it cannot. */
  openConsole(vmName: string, handlers: ConsoleHandlers): Promise<ConsoleSession>;
  /**
   * Opens the graphics console of a running domain: an RFB (VNC) byte stream, relayed unchanged
   * to the browser's noVNC. Throws, with a reason shown to the operator, when it cannot.
   */
  openGraphics(vmName: string, handlers: ConsoleHandlers<Buffer>): Promise<ConsoleSession<Buffer>>;
}
