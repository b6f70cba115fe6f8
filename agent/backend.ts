// The contract between the agent's protocol code and a host backend (linux or sim).
// Everything the agent knows about hardware goes through this interface, so the simulated
// backend exercises exactly the same protocol paths as the real one.

import type { AgentOperation, HostFacts, ObservedDevice as ReportedObservation, ReportedDevice, ReportedVm } from '../protocol/agent.ts';

export type { DeviceKind, HostFacts, ReportedVm } from '../protocol/agent.ts';

/**
 * One device as the host sees it right now: the inventory report's device (schema.graphql
 * documents each field) with every field stated, null when the host cannot tell. Sent as it
 * is, so a backend returns plain objects with these fields and no others.
 */
export type DiscoveredDevice = Required<ReportedDevice>;

/** The fields only PCI configuration space has: null for USB devices. */
export type PciIdentity = 'classCode' | 'subsystemVendorId' | 'subsystemProductId' | 'revision';

/** One device as the host sees it once an operation has ended (driver null when unbound): what completeOperation carries. */
export type ObservedDevice = Required<ReportedObservation>;

/** A device handed to a VM, as the backend needs it to write libvirt hostdev entries. */
export type HostdevRef = Pick<DiscoveredDevice, 'kind' | 'address' | 'vendorId' | 'productId'>;

/** A VM to define and start: what a PROVISION operation carries. */
export type VmSpec = NonNullable<AgentOperation['vm']> & { devices: HostdevRef[] };

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
   * host really has, whatever the server believes. Read-only. A domain's `deviceAddresses` are
   * the inventory's addresses (PCI BDF, USB port path); a hostdev matching no present device
   * is left out.
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
  /** For a backend that can tell when devices come and go (udev, the simulator's hot-plug): returns the unsubscribe. */
  onInventoryChange?(listener: () => void): () => void;
}
