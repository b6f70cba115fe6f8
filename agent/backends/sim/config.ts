// What a simulated host has: its hardware, how slow it is, and what goes wrong on it.
// The same shape is read from JSON (`passthru-agent --sim-config host.json`), so the schema
// below both checks it, with a message naming the field, and gives the TypeScript types.

import * as v from 'valibot';
import { GPU_MODELS, NVME_MODELS, USB_MODELS } from './catalog.ts';

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
const OPERATION_TYPE_ALIASES = {
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
} as const satisfies Record<string, SimOperation>;
type OperationTypeAlias = keyof typeof OPERATION_TYPE_ALIASES;

const SIM_OPERATION_NAMES = new Set<string>(SIM_OPERATIONS);
const isAlias = (name: string): name is OperationTypeAlias => Object.hasOwn(OPERATION_TYPE_ALIASES, name);
const isOperationName = (input: unknown): input is SimOperation | OperationTypeAlias =>
  typeof input === 'string' && (SIM_OPERATION_NAMES.has(input) || isAlias(input));

export class SimConfigError extends Error {
  override name = 'SimConfigError';
}

const got = (issue: v.BaseIssue<unknown>) => JSON.stringify(issue.input);

function integer(min: number, max: number) {
  const message = (issue: v.BaseIssue<unknown>) => `must be an integer from ${min} to ${max}, got ${got(issue)}`;
  return v.pipe(v.number(message), v.integer(message), v.minValue(min, message), v.maxValue(max, message));
}

const flag = v.boolean((issue) => `must be true or false, got ${got(issue)}`);
const text = v.pipe(v.string('must be a non-empty string'), v.nonEmpty('must be a non-empty string'));

function oneOf<T extends string>(names: Record<T, unknown>) {
  const known = (input: unknown): input is T => typeof input === 'string' && Object.hasOwn(names, input);
  return v.custom<T>(known, (issue) => `must be one of ${Object.keys(names).join(', ')}, got ${got(issue)}`);
}

/** A backend call by its name (`detach`) or its server operation type (`DETACH`); gives the backend call. */
const operation = v.pipe(
  v.custom<SimOperation | OperationTypeAlias>(
    isOperationName,
    (issue) => `must be one of ${[...SIM_OPERATIONS, ...Object.keys(OPERATION_TYPE_ALIASES)].join(', ')}, got ${got(issue)}`,
  ),
  v.transform((name): SimOperation => (isAlias(name) ? OPERATION_TYPE_ALIASES[name] : name)),
);

const isPlainObject = (input: unknown) => typeof input === 'object' && input !== null && !Array.isArray(input);

/** A JSON object with only these fields; valibot's own object schemas would take an array too. */
function object<const T extends v.ObjectEntries>(entries: T, expected = 'an object') {
  const shape = v.strictObject(entries, (issue) => {
    if (issue.expected === 'never') return `is not a known field (known: ${Object.keys(entries).join(', ')})`;
    return issue.input === undefined && issue.path ? 'is required' : `must be ${expected}`;
  });
  return v.lazy((input) => (isPlainObject(input) ? shape : v.never(`must be ${expected}`)));
}

const list = <T extends v.GenericSchema>(item: T) => v.array(item, 'must be a list');

const milliseconds = integer(0, 600_000);

const faultSchema = object({
  operation,
  /**
   * `fail`: the call throws and changes nothing. `die`: the agent process dies in the middle
   * of the call (see `phase`), so the server never hears how it ended.
   */
  effect: v.optional(v.picklist(['fail', 'die'], (issue) => `must be "fail" or "die", got ${got(issue)}`), 'fail'),
  /** How many of the next calls it hits (default 1). Ignored when `probability` is set. */
  times: v.optional(integer(0, 1_000_000), 1),
  /** Hit each call with this probability (0..1) instead, from the seeded generator. */
  probability: v.optional(
    v.pipe(
      v.number((issue) => `must be a number from 0 to 1, got ${got(issue)}`),
      v.minValue(0, (issue) => `must be a number from 0 to 1, got ${got(issue)}`),
      v.maxValue(1, (issue) => `must be a number from 0 to 1, got ${got(issue)}`),
    ),
  ),
  /** The error message of a `fail`. */
  message: v.optional(text),
  /** For `die`: before or after the host has changed (default `after`). */
  phase: v.optional(v.picklist(['before', 'after'], (issue) => `must be "before" or "after", got ${got(issue)}`), 'after'),
});

const hostSchema = object(
  {
    /** Seeds serial numbers, so two simulated hosts do not share them. Default `sim-host`. */
    name: v.optional(text),
    cpuCores: v.optional(integer(1, 65536)),
    memoryMb: v.optional(integer(64, 1 << 30)),
    iommuEnabled: v.optional(flag),
    /** GPUs are spread over this many NUMA nodes, first half on node 0. Default 1. */
    numaNodes: v.optional(integer(1, 8)),
    gpus: v.optional(
      list(
        object({
          model: oneOf(GPU_MODELS),
          count: v.optional(integer(0, 64)),
          /** Bound to vfio-pci from boot (as with `vfio-pci.ids=` on the kernel command line). */
          pooled: v.optional(flag),
        }),
      ),
    ),
    usb: v.optional(list(object({ model: oneOf(USB_MODELS), count: v.optional(integer(0, 64)) }))),
    nvme: v.optional(
      list(
        object({
          model: oneOf(NVME_MODELS),
          count: v.optional(integer(0, 32)),
          pooled: v.optional(flag),
          /** The drive holds something the host uses (`/ mounted`), so detaching it is refused. */
          inUseBy: v.optional(text),
        }),
      ),
    ),
    /** Milliseconds each call takes: one number for all, or per call. Default: a few hundred ms. */
    latencyMs: v.optional(
      v.lazy((input) =>
        typeof input === 'number'
          ? milliseconds
          : isPlainObject(input)
            ? v.record(operation, milliseconds)
            : v.never('must be a number of milliseconds or an object of them per call'),
      ),
    ),
    faults: v.optional(list(faultSchema)),
    /** Seed of the generator behind probabilistic faults. Default 1. */
    seed: v.optional(integer(0, 2 ** 31 - 1)),
    /**
     * Keep the simulated hardware state in this JSON file, so it survives the agent process
     * (as a real host's bindings and VMs do). Without it the state lives in memory only.
     */
    stateFile: v.optional(text),
  },
  'a JSON object',
);

/** A simulated host as written, in JSON or in code. */
export type SimHostConfig = v.InferInput<typeof hostSchema>;
/** A simulated host as checked: fault and latency operations as backend calls, fault defaults filled in. */
export type ParsedSimHostConfig = v.InferOutput<typeof hostSchema>;
/** A fault as written: see faultSchema. */
export type SimFault = v.InferInput<typeof faultSchema>;
/** A fault as checked: its operation a backend call, its defaults filled in. */
export type ParsedSimFault = v.InferOutput<typeof faultSchema>;

/** `gpus[0].model`: where in the config an issue is, as the config's author writes it. */
function pathOf(issue: v.BaseIssue<unknown>, prefix: string): string {
  let path = prefix;
  for (const item of issue.path ?? []) {
    path += typeof item.key === 'number' ? `[${item.key}]` : `${path ? '.' : ''}${String(item.key)}`;
  }
  return path || '(root)';
}

function parse<S extends v.GenericSchema>(schema: S, value: unknown, prefix = ''): v.InferOutput<S> {
  const result = v.safeParse(schema, value);
  if (result.success) return result.output;
  const [issue] = result.issues;
  throw new SimConfigError(`sim config: ${pathOf(issue, prefix)} ${issue.message}`);
}

/** Checks a parsed JSON value field by field and returns it typed, fault operations as backend calls. */
export function parseSimConfig(value: unknown): ParsedSimHostConfig {
  return parse(hostSchema, value);
}

/** Checks one fault; `path` names it in an error (`faults[2]`, `fault`). */
export function parseFault(path: string, value: unknown): ParsedSimFault {
  return parse(faultSchema, value, path);
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

export function latencyOf(config: ParsedSimHostConfig, operation: SimOperation): number {
  const latency = config.latencyMs;
  if (latency === undefined) return DEFAULT_LATENCY_MS[operation];
  if (typeof latency === 'number') return latency;
  return latency[operation] ?? DEFAULT_LATENCY_MS[operation];
}
