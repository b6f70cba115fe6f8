// What a simulated host has: its hardware, how slow it is, and what goes wrong on it.
// The same shape is read from JSON (`passthru-agent --sim-config host.json`), so every field
// is checked here with a message that names it.

import { createHash } from 'node:crypto';
import type { DiscoveredDevice } from '../../backend.ts';
import {
  GPU_MODELS,
  HDA_DRIVER,
  NVME_DRIVER,
  NVME_MODELS,
  USB_DRIVER,
  USB_MODELS,
  VFIO_DRIVER,
  type GpuModelName,
  type NvmeModelName,
  type UsbModelName,
} from './catalog.ts';

/** Backend calls a fault or a latency can be attached to. */
export const SIM_OPERATIONS = [
  'detach',
  'attach',
  'provisionVm',
  'teardownVm',
  'startVm',
  'stopVm',
  'assignDevice',
  'releaseDevice',
  'inventory',
  'vms',
] as const;
export type SimOperation = (typeof SIM_OPERATIONS)[number];

/** Server operation types map onto backend calls, so faults can be written either way. */
const OPERATION_TYPE_ALIASES: Record<string, SimOperation> = {
  DETACH: 'detach',
  ATTACH: 'attach',
  PROVISION: 'provisionVm',
  TEARDOWN: 'teardownVm',
  START_VM: 'startVm',
  STOP_VM: 'stopVm',
  ASSIGN: 'assignDevice',
  RELEASE: 'releaseDevice',
  INVENTORY: 'inventory',
  VMS: 'vms',
};

export interface SimFault {
  /** A backend call (`detach`) or a server operation type (`DETACH`). */
  operation: SimOperation | keyof typeof OPERATION_TYPE_ALIASES;
  /**
   * `fail`: the call throws and changes nothing. `die`: the agent process dies in the middle
   * of the call (see `phase`), so the server never hears how it ended.
   */
  effect?: 'fail' | 'die';
  /** How many of the next calls it hits (default 1). Ignored when `probability` is set. */
  times?: number;
  /** Hit each call with this probability (0..1) instead, from the seeded generator. */
  probability?: number;
  /** The error message of a `fail`. */
  message?: string;
  /** For `die`: before or after the host has changed (default `after`). */
  phase?: 'before' | 'after';
}

export interface SimGpuSpec {
  model: GpuModelName;
  count?: number;
  /** Bound to vfio-pci from boot (as with `vfio-pci.ids=` on the kernel command line). */
  pooled?: boolean;
}

export interface SimUsbSpec {
  model: UsbModelName;
  count?: number;
}

export interface SimNvmeSpec {
  model: NvmeModelName;
  count?: number;
  pooled?: boolean;
  /** The drive holds something the host uses (`/ mounted`), so detaching it is refused. */
  inUseBy?: string;
}

export interface SimHostConfig {
  /** Seeds serial numbers, so two simulated hosts do not share them. Default `sim-host`. */
  name?: string;
  cpuCores?: number;
  memoryMb?: number;
  iommuEnabled?: boolean;
  /** GPUs are spread over this many NUMA nodes, first half on node 0. Default 1. */
  numaNodes?: number;
  gpus?: SimGpuSpec[];
  usb?: SimUsbSpec[];
  nvme?: SimNvmeSpec[];
  /** Milliseconds each call takes: one number for all, or per call. Default: a few hundred ms. */
  latencyMs?: number | Partial<Record<SimOperation, number>>;
  faults?: SimFault[];
  /** Seed of the generator behind probabilistic faults. Default 1. */
  seed?: number;
  /**
   * Keep the simulated hardware state in this JSON file, so it survives the agent process
   * (as a real host's bindings and VMs do). Without it the state lives in memory only.
   */
  stateFile?: string;
}

/** The simulated host `passthru-agent --backend sim` gets without --sim-config: a small GPU box. */
export const DEFAULT_SIM_CONFIG: SimHostConfig = {
  name: 'sim-host',
  cpuCores: 32,
  memoryMb: 128 * 1024,
  gpus: [{ model: 'rtx-3090', count: 2 }],
  usb: [{ model: 'logitech-unifying' }],
  nvme: [{ model: 'samsung-pm9a3' }],
};

/** Realistic default durations: sysfs rebinding is quick, defining and booting a VM is not. */
export const DEFAULT_LATENCY_MS: Record<SimOperation, number> = {
  detach: 400,
  attach: 400,
  provisionVm: 1500,
  teardownVm: 700,
  startVm: 800,
  stopVm: 600,
  assignDevice: 300,
  releaseDevice: 300,
  inventory: 20,
  vms: 20,
};

/** A device as the simulated host keeps it. */
export interface SimDevice extends DiscoveredDevice {
  /** The driver attach gives it back to. */
  hostDriver: string | null;
}

export class SimConfigError extends Error {
  override name = 'SimConfigError';
}

function fail(path: string, message: string): never {
  throw new SimConfigError(`sim config: ${path} ${message}`);
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function checkKeys(path: string, value: Record<string, unknown>, allowed: readonly string[]) {
  for (const key of Object.keys(value)) {
    if (!allowed.includes(key)) fail(`${path}.${key}`, `is not a known field (known: ${allowed.join(', ')})`);
  }
}

function optionalInt(path: string, value: unknown, min: number, max: number): number | undefined {
  if (value === undefined) return undefined;
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > max) {
    fail(path, `must be an integer from ${min} to ${max}, got ${JSON.stringify(value)}`);
  }
  return value;
}

function optionalBoolean(path: string, value: unknown): boolean | undefined {
  if (value === undefined) return undefined;
  if (typeof value !== 'boolean') fail(path, `must be true or false, got ${JSON.stringify(value)}`);
  return value;
}

function optionalString(path: string, value: unknown): string | undefined {
  if (value === undefined) return undefined;
  if (typeof value !== 'string' || value === '') fail(path, `must be a non-empty string`);
  return value;
}

function model<T extends string>(path: string, value: unknown, models: Record<T, unknown>): T {
  if (typeof value !== 'string' || !(value in models)) {
    fail(path, `must be one of ${Object.keys(models).join(', ')}, got ${JSON.stringify(value)}`);
  }
  return value as T;
}

function list<T>(path: string, value: unknown, item: (path: string, value: unknown) => T): T[] | undefined {
  if (value === undefined) return undefined;
  if (!Array.isArray(value)) fail(path, 'must be a list');
  return value.map((entry, index) => item(`${path}[${index}]`, entry));
}

export function normalizeOperation(path: string, value: unknown): SimOperation {
  if (typeof value === 'string') {
    if ((SIM_OPERATIONS as readonly string[]).includes(value)) return value as SimOperation;
    const alias = OPERATION_TYPE_ALIASES[value];
    if (alias) return alias;
  }
  return fail(path, `must be one of ${[...SIM_OPERATIONS, ...Object.keys(OPERATION_TYPE_ALIASES)].join(', ')}, got ${JSON.stringify(value)}`);
}

export function parseFault(path: string, value: unknown): SimFault & { operation: SimOperation } {
  if (!isObject(value)) fail(path, 'must be an object');
  checkKeys(path, value, ['operation', 'effect', 'times', 'probability', 'message', 'phase']);
  const effect = value.effect ?? 'fail';
  if (effect !== 'fail' && effect !== 'die') fail(`${path}.effect`, `must be "fail" or "die", got ${JSON.stringify(effect)}`);
  const phase = value.phase ?? 'after';
  if (phase !== 'before' && phase !== 'after') fail(`${path}.phase`, `must be "before" or "after", got ${JSON.stringify(phase)}`);
  const probability = value.probability;
  if (probability !== undefined && (typeof probability !== 'number' || probability < 0 || probability > 1)) {
    fail(`${path}.probability`, `must be a number from 0 to 1, got ${JSON.stringify(probability)}`);
  }
  const message = optionalString(`${path}.message`, value.message);
  return {
    operation: normalizeOperation(`${path}.operation`, value.operation),
    effect,
    times: optionalInt(`${path}.times`, value.times, 0, 1_000_000) ?? 1,
    ...(probability !== undefined ? { probability: probability as number } : {}),
    ...(message !== undefined ? { message } : {}),
    phase,
  };
}

/** Checks a parsed JSON value field by field and returns it typed. */
export function parseSimConfig(value: unknown): SimHostConfig {
  if (!isObject(value)) fail('(root)', 'must be a JSON object');
  checkKeys('', value, ['name', 'cpuCores', 'memoryMb', 'iommuEnabled', 'numaNodes', 'gpus', 'usb', 'nvme', 'latencyMs', 'faults', 'seed', 'stateFile']);
  const config: SimHostConfig = {};
  const name = optionalString('name', value.name);
  if (name !== undefined) config.name = name;
  const cpuCores = optionalInt('cpuCores', value.cpuCores, 1, 65536);
  if (cpuCores !== undefined) config.cpuCores = cpuCores;
  const memoryMb = optionalInt('memoryMb', value.memoryMb, 64, 1 << 30);
  if (memoryMb !== undefined) config.memoryMb = memoryMb;
  const iommuEnabled = optionalBoolean('iommuEnabled', value.iommuEnabled);
  if (iommuEnabled !== undefined) config.iommuEnabled = iommuEnabled;
  const numaNodes = optionalInt('numaNodes', value.numaNodes, 1, 8);
  if (numaNodes !== undefined) config.numaNodes = numaNodes;

  const gpus = list('gpus', value.gpus, (path, entry) => {
    if (!isObject(entry)) fail(path, 'must be an object');
    checkKeys(path, entry, ['model', 'count', 'pooled']);
    const spec: SimGpuSpec = { model: model(`${path}.model`, entry.model, GPU_MODELS) };
    const count = optionalInt(`${path}.count`, entry.count, 0, 64);
    if (count !== undefined) spec.count = count;
    const pooled = optionalBoolean(`${path}.pooled`, entry.pooled);
    if (pooled !== undefined) spec.pooled = pooled;
    return spec;
  });
  if (gpus) config.gpus = gpus;
  const usb = list('usb', value.usb, (path, entry) => {
    if (!isObject(entry)) fail(path, 'must be an object');
    checkKeys(path, entry, ['model', 'count']);
    const spec: SimUsbSpec = { model: model(`${path}.model`, entry.model, USB_MODELS) };
    const count = optionalInt(`${path}.count`, entry.count, 0, 64);
    if (count !== undefined) spec.count = count;
    return spec;
  });
  if (usb) config.usb = usb;
  const nvme = list('nvme', value.nvme, (path, entry) => {
    if (!isObject(entry)) fail(path, 'must be an object');
    checkKeys(path, entry, ['model', 'count', 'pooled', 'inUseBy']);
    const spec: SimNvmeSpec = { model: model(`${path}.model`, entry.model, NVME_MODELS) };
    const count = optionalInt(`${path}.count`, entry.count, 0, 32);
    if (count !== undefined) spec.count = count;
    const pooled = optionalBoolean(`${path}.pooled`, entry.pooled);
    if (pooled !== undefined) spec.pooled = pooled;
    const inUseBy = optionalString(`${path}.inUseBy`, entry.inUseBy);
    if (inUseBy !== undefined) spec.inUseBy = inUseBy;
    return spec;
  });
  if (nvme) config.nvme = nvme;

  if (value.latencyMs !== undefined) {
    if (typeof value.latencyMs === 'number') {
      config.latencyMs = optionalInt('latencyMs', value.latencyMs, 0, 600_000)!;
    } else if (isObject(value.latencyMs)) {
      const perCall: Partial<Record<SimOperation, number>> = {};
      for (const [key, ms] of Object.entries(value.latencyMs)) {
        perCall[normalizeOperation(`latencyMs.${key}`, key)] = optionalInt(`latencyMs.${key}`, ms, 0, 600_000)!;
      }
      config.latencyMs = perCall;
    } else {
      fail('latencyMs', 'must be a number of milliseconds or an object of them per call');
    }
  }
  const faults = list('faults', value.faults, parseFault);
  if (faults) config.faults = faults;
  const seed = optionalInt('seed', value.seed, 0, 2 ** 31 - 1);
  if (seed !== undefined) config.seed = seed;
  const stateFile = optionalString('stateFile', value.stateFile);
  if (stateFile !== undefined) config.stateFile = stateFile;
  return config;
}

export function latencyOf(config: SimHostConfig, operation: SimOperation): number {
  const latency = config.latencyMs;
  if (latency === undefined) return DEFAULT_LATENCY_MS[operation];
  if (typeof latency === 'number') return latency;
  return latency[operation] ?? DEFAULT_LATENCY_MS[operation];
}

/** A stable pseudo-random string from `seed`: the same host always gets the same serials. */
function derived(seed: string, alphabet: string, length: number): string {
  let out = '';
  let block = createHash('sha256').update(seed).digest();
  let counter = 0;
  while (out.length < length) {
    for (const byte of block) {
      if (out.length >= length) break;
      out += alphabet[byte % alphabet.length];
    }
    block = createHash('sha256').update(`${seed}#${++counter}`).digest();
  }
  return out;
}

const PCI_CLASS_HD_AUDIO = '040300';
const PCI_CLASS_NVME = '010802';
// A simulated card has no board vendor or stepping to report.
const NOT_MODELLED = { subsystemVendorId: null, subsystemProductId: null, revision: null };
const DIGITS = '0123456789';
const UPPER_ALNUM = '0123456789ABCDEFGHJKLMNPQRSTVWXYZ';

function hex2(n: number) {
  return n.toString(16).padStart(2, '0');
}

/**
 * The devices a host boots with, in a layout like a two-socket server: GPUs spread over the
 * NUMA nodes (the first half on node 0, with low bus numbers; the rest on node 1), each GPU
 * in its own IOMMU group shared with its HDMI audio function, NVMe drives near the root of
 * node 0, USB devices on the first root ports.
 */
export function buildDevices(config: SimHostConfig): SimDevice[] {
  const host = config.name ?? 'sim-host';
  const numaNodes = config.numaNodes ?? 1;
  const devices: SimDevice[] = [];
  let iommuGroup = 20;

  const gpus = (config.gpus ?? []).flatMap((spec) =>
    Array.from({ length: spec.count ?? 1 }, () => ({ model: spec.model, pooled: spec.pooled ?? false })),
  );
  const perNode = Math.ceil(gpus.length / numaNodes) || 1;
  // Each node owns a slice of the bus numbers; GPUs sit on evenly spaced root ports in it.
  const span = Math.floor(0xe0 / numaNodes);
  gpus.forEach((gpu, index) => {
    const node = Math.min(numaNodes - 1, Math.floor(index / perNode));
    const slot = index - node * perNode;
    const step = Math.max(1, Math.floor((span - 0x10) / perNode));
    const bus = 0x10 + node * span + 0x07 + slot * step;
    const model = GPU_MODELS[gpu.model];
    const group = iommuGroup++;
    const numaNode = config.iommuEnabled === false ? null : node;
    devices.push({
      kind: 'GPU',
      address: `0000:${hex2(bus)}:00.0`,
      vendorId: model.vendorId,
      productId: model.productId,
      vendorName: model.vendorName,
      productName: model.productName,
      classCode: model.classCode,
      ...NOT_MODELLED,
      serial: null, // sysfs has no serial for PCI display controllers; the real backend reports none either
      iommuGroup: config.iommuEnabled === false ? null : group,
      numaNode,
      driver: gpu.pooled ? VFIO_DRIVER : model.driver,
      hostDriver: model.driver,
      inUse: null,
    });
    if (model.audio) {
      devices.push({
        kind: 'PCI',
        address: `0000:${hex2(bus)}:00.1`,
        vendorId: model.vendorId,
        productId: model.audio.productId,
        vendorName: model.vendorName,
        productName: model.audio.productName,
        classCode: PCI_CLASS_HD_AUDIO,
        ...NOT_MODELLED,
        serial: null,
        iommuGroup: config.iommuEnabled === false ? null : group,
        numaNode,
        driver: gpu.pooled ? VFIO_DRIVER : HDA_DRIVER,
        hostDriver: HDA_DRIVER,
        inUse: null,
      });
    }
  });

  let nvmeIndex = 0;
  for (const spec of config.nvme ?? []) {
    const model = NVME_MODELS[spec.model];
    for (let i = 0; i < (spec.count ?? 1); i++) {
      const index = nvmeIndex++;
      const serial = model.serialPrefix + derived(`${host}/nvme/${index}`, UPPER_ALNUM, model.serialLength - model.serialPrefix.length);
      devices.push({
        kind: 'NVME',
        address: `0000:${hex2(0x01 + index)}:00.0`,
        vendorId: model.vendorId,
        productId: model.productId,
        vendorName: model.vendorName,
        productName: model.productName,
        classCode: PCI_CLASS_NVME,
        ...NOT_MODELLED,
        serial,
        iommuGroup: config.iommuEnabled === false ? null : iommuGroup++,
        numaNode: config.iommuEnabled === false ? null : 0,
        driver: spec.pooled ? VFIO_DRIVER : NVME_DRIVER,
        hostDriver: NVME_DRIVER,
        // Only the first drive of an entry is the one the host uses (its boot disk, say).
        inUse: i === 0 ? (spec.inUseBy ?? null) : null,
      });
    }
  }

  let usbIndex = 0;
  for (const spec of config.usb ?? []) {
    const model = USB_MODELS[spec.model];
    for (let i = 0; i < (spec.count ?? 1); i++) {
      const index = usbIndex++;
      devices.push({
        kind: 'USB',
        address: `${1 + Math.floor(index / 8)}-${(index % 8) + 1}`,
        vendorId: model.vendorId,
        productId: model.productId,
        vendorName: model.vendorName,
        productName: model.productName,
        classCode: null,
        ...NOT_MODELLED,
        serial: model.serial === 'digits20' ? derived(`${host}/usb/${index}`, DIGITS, 20) : null,
        iommuGroup: null,
        numaNode: null,
        // USB devices stay on the host's usb driver: libvirt passes them to QEMU through usbfs.
        driver: USB_DRIVER,
        hostDriver: USB_DRIVER,
        inUse: null,
      });
    }
  }
  return devices;
}
