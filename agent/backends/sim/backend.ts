// The simulated host backend: a SimHost (host.ts) behind the HostBackend interface, with the
// latency of real hosts, faults injected on demand (faults.ts), its state kept in a state file
// when the config names one (state-file.ts), and the handles tests, the demo and the control
// API (control.ts) use to pull devices out and plug them in.

import { setTimeout as sleep } from 'node:timers/promises';
import type { ConsoleHandlers, ConsoleSession, DiscoveredDevice, HostBackend, HostdevRef, HostFacts, ObservedDevice, ReportedVm, VmSpec } from '../../backend.ts';
import { latencyOf, parseSimConfig, type ParsedSimHostConfig, type SimFault, type SimHostConfig, type SimOperation } from './config.ts';
import { SimConsoles } from './consoles.ts';
import { FaultPlan } from './faults.ts';
import { buildDevices, type SimDevice } from './hardware.ts';
import { SimHost, type NewSimDevice } from './host.ts';
import { readStateFile, writeStateFile, type SimDomain, type SimSnapshot } from './state-file.ts';

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

export class SimBackend implements HostBackend {
  /** The config as checked by parseSimConfig: one written in code is held to the same rules as JSON. */
  readonly config: ParsedSimHostConfig;
  readonly #options: SimBackendOptions;
  readonly #host: SimHost;
  readonly #faults: FaultPlan;
  readonly #consoles = new SimConsoles();
  readonly #listeners = new Set<() => void>();
  readonly #calls = new Map<SimOperation, number>();

  constructor(config: SimHostConfig = {}, options: SimBackendOptions = {}) {
    this.config = parseSimConfig(config);
    this.#options = options;
    this.#faults = new FaultPlan(this.config.faults ?? [], this.config.seed ?? 1);
    // Without a state file yet, one is written at the first change, so merely looking
    // (`passthru-agent inventory`) leaves no file.
    const saved = this.config.stateFile ? readStateFile(this.config.stateFile) : null;
    this.#host = new SimHost(saved ?? { devices: buildDevices(this.config), unplugged: [], domains: [] }, this.config.iommuEnabled ?? true);
  }

  async facts(): Promise<HostFacts> {
    return {
      cpuCores: this.config.cpuCores ?? 64,
      memoryMb: this.config.memoryMb ?? 256 * 1024,
      iommuEnabled: this.config.iommuEnabled ?? true,
    };
  }

  inventory(): Promise<DiscoveredDevice[]> {
    return this.#perform('inventory', () => this.#host.inventory(), false);
  }

  // No latency or faults: the real backend reads a few sysfs links, which does not fail like a bind.
  async observe(devices: HostdevRef[]): Promise<ObservedDevice[]> {
    return devices.map(({ address }) => {
      const device = this.#host.find(address);
      return device ? { address, driver: device.driver, present: true } : { address, driver: null, present: false };
    });
  }

  vms(): Promise<ReportedVm[]> {
    return this.#perform('vms', () => this.#host.vms(), false);
  }

  detach(refs: HostdevRef[]): Promise<void> {
    return this.#perform('detach', () => this.#host.detach(refs));
  }

  attach(refs: HostdevRef[]): Promise<void> {
    return this.#perform('attach', () => this.#host.attach(refs));
  }

  provisionVm(vm: VmSpec): Promise<void> {
    return this.#perform('provisionVm', () => this.#host.define(vm));
  }

  teardownVm(vmName: string): Promise<void> {
    return this.#perform('teardownVm', () => {
      this.#host.undefine(vmName);
      this.#consoles.endAll(vmName, `VM ${vmName} was torn down`);
    });
  }

  startVm(vmName: string): Promise<void> {
    return this.#perform('startVm', () => this.#host.start(vmName));
  }

  stopVm(vmName: string): Promise<void> {
    return this.#perform('stopVm', () => {
      this.#host.stop(vmName);
      this.#consoles.endAll(vmName, `VM ${vmName} was stopped`);
    });
  }

  assignDevice(vmName: string, ref: HostdevRef): Promise<void> {
    return this.#perform('assignDevice', () => this.#host.assign(vmName, ref));
  }

  releaseDevice(vmName: string, ref: HostdevRef): Promise<void> {
    return this.#perform('releaseDevice', () => this.#host.release(vmName, ref));
  }

  /** A simulated guest shell on a running domain (see SimConsoles.openShell). */
  async openConsole(vmName: string, handlers: ConsoleHandlers): Promise<ConsoleSession> {
    this.#requireRunning(vmName);
    return this.#consoles.openShell(vmName, () => this.#host.guestDevices(vmName), handlers);
  }

  /** The simulated guest's screen over RFB (see SimConsoles.openScreen). */
  async openGraphics(vmName: string, handlers: ConsoleHandlers<Buffer>): Promise<ConsoleSession<Buffer>> {
    this.#requireRunning(vmName);
    return this.#consoles.openScreen(vmName, () => this.#host.guestDevices(vmName), handlers);
  }

  // What tests, the demo and the control API do to the "hardware".

  /** Adds a fault; see SimFault. */
  injectFault(fault: SimFault): void {
    this.#faults.add(fault);
  }

  clearFaults(): void {
    this.#faults.clear();
  }

  /** Pulls a device out of the host: the next inventory lacks it. */
  removeDevice(address: string): SimDevice {
    const device = this.#host.unplug(address);
    this.#hotplugged({ address }, 'simulated device removed');
    return { ...device };
  }

  /** Puts a removed device back, in its old slot or at `at` (a drive moved to another slot). */
  plugDevice(address: string, at: string = address): SimDevice {
    const device = this.#host.plug(address, at);
    this.#hotplugged({ address: at }, 'simulated device plugged in');
    return { ...device };
  }

  /** Plugs in a new device; it comes up on its host driver unless `driver` says otherwise. */
  addDevice(device: NewSimDevice): SimDevice {
    const added = this.#host.add(device);
    this.#hotplugged({ address: device.address }, 'simulated device added');
    return { ...added };
  }

  /** Called when devices appear or disappear (like a udev event), so the agent can report at once. */
  onInventoryChange(listener: () => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  snapshot(): SimSnapshot {
    return structuredClone(this.#host.state);
  }

  domain(name: string): SimDomain | null {
    const domain = this.#host.domain(name);
    return domain ? structuredClone(domain) : null;
  }

  device(address: string): SimDevice | null {
    const device = this.#host.find(address);
    return device ? { ...device } : null;
  }

  /** How many times a backend call ran (faulted ones included). */
  callCount(operation: SimOperation): number {
    return this.#calls.get(operation) ?? 0;
  }

  async #perform<T>(operation: SimOperation, change: () => T, mutates = true): Promise<T> {
    this.#calls.set(operation, (this.#calls.get(operation) ?? 0) + 1);
    const latency = latencyOf(this.config, operation);
    if (latency > 0) await sleep(latency);
    const fault = this.#faults.take(operation);
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

  async #die(operation: SimOperation, phase: 'before' | 'after'): Promise<never> {
    this.#options.logger?.warn({ operation, phase }, 'simulated fault: the agent dies mid-operation');
    this.#options.onDie?.({ operation, phase });
    return new Promise<never>(() => {});
  }

  #requireRunning(vmName: string) {
    if (!this.#host.requireDomain(vmName).running) throw new Error(`VM ${vmName} is not running; start it to use its console`);
  }

  #hotplugged(fields: { address: string }, message: string) {
    this.#save();
    this.#options.logger?.info(fields, message);
    for (const listener of this.#listeners) listener();
  }

  #save() {
    if (this.config.stateFile) writeStateFile(this.config.stateFile, this.#host.state);
  }
}
