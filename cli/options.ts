import { parseArgs } from 'node:util';
import type { introspection_types } from '../protocol/graphql-env.d.ts';
import { UsageError } from './exit-codes.ts';

export interface OptionSpec {
  /** Placeholder in --help; absent for flags. */
  value?: string;
  help: string;
  short?: string;
  /** May be given more than once (or as a comma-separated list). */
  multiple?: boolean;
  /** The values the shell completes it with. */
  choices?: readonly string[];
}

type EnumValues<Name extends keyof introspection_types> = introspection_types[Name] extends { enumValues: infer Values extends string } ? Values : never;
export type DeviceKind = EnumValues<'DeviceKind'>;
export type DeviceStatus = EnumValues<'DeviceStatus'>;
export type HostStatus = EnumValues<'HostStatus'>;
export type OperationStatus = EnumValues<'OperationStatus'>;

/** The values of a schema enum, listed once: `satisfies` fails tsc when the schema adds or drops one. */
const enumList = <Value extends string>(values: Record<Value, true>) => Object.keys(values).filter((key): key is Value => key in values);

export const DEVICE_KINDS = enumList({ GPU: true, USB: true, NVME: true, PCI: true } satisfies Record<DeviceKind, true>);
export const DEVICE_STATUSES = enumList({
  ATTACHED: true,
  DETACHING: true,
  DETACHED: true,
  ASSIGNING: true,
  ASSIGNED: true,
  RELEASING: true,
  ATTACHING: true,
  MISSING: true,
} satisfies Record<DeviceStatus, true>);
export const HOST_STATUSES = enumList({ ONLINE: true, OFFLINE: true } satisfies Record<HostStatus, true>);
export const OPERATION_STATUSES = enumList({ PENDING: true, RUNNING: true, SUCCEEDED: true, FAILED: true } satisfies Record<OperationStatus, true>);

/** Every option of every command; a command lists the ones it takes. */
export const OPTIONS = {
  server: { value: 'URL', help: 'The Passthru server (env PASSTHRU_SERVER, else the one `login` stored, else http://localhost:4000).' },
  json: { help: 'Print JSON for scripts instead of a table (watch prints one JSON object per line).' },
  help: { short: 'h', help: 'Print help.' },
  host: { value: 'HOST', help: 'Only this host (name or ID).' },
  cluster: { value: 'CLUSTER', help: 'A cluster (name or ID).' },
  kind: { value: 'KIND', help: `Only this kind: ${DEVICE_KINDS.join(', ')}.`, choices: DEVICE_KINDS },
  status: { value: 'STATUS', multiple: true, help: 'Only these statuses (repeat it, or separate them with commas).' },
  vm: { value: 'VM', help: 'A VM (name or ID).' },
  device: { value: 'DEVICE', help: 'Only operations moving this device (ID).' },
  plan: { value: 'PLAN', help: 'A service plan (name or ID).' },
  all: { help: 'Include torn-down VMs.' },
  limit: { value: 'N', help: 'At most N rows (default 200).' },
  'no-wait': { help: 'Return once the operation is queued instead of waiting for the host to finish it.' },
  'with-group': { help: 'Also assign the free functions sharing its IOMMU group (a GPU and its audio function).' },
  username: { value: 'USER', help: 'Sign in as USER (asks for the password, or reads it from stdin with --password-stdin).' },
  'password-stdin': { help: 'Read the password from stdin.' },
  'token-stdin': { help: 'Store the API token read from stdin instead of signing in.' },
} satisfies Record<string, OptionSpec>;

export type OptionName = keyof typeof OPTIONS;

/** An option's spec, with its optional fields visible whichever option it is. */
export const optionSpec = (name: OptionName): OptionSpec => OPTIONS[name];

export const GLOBAL_OPTIONS: OptionName[] = ['server', 'json', 'help'];

export interface ParsedArgs {
  positionals: string[];
  strings: Partial<Record<OptionName, string>>;
  lists: Partial<Record<OptionName, string[]>>;
  flags: Partial<Record<OptionName, boolean>>;
}

const optionNames = Object.keys(OPTIONS).filter((name): name is OptionName => name in OPTIONS);

/** Parses argv (after the command name is found among the positionals); every option is known to every command here, each command checks which apply. */
export function parse(argv: string[]): ParsedArgs {
  const config = Object.fromEntries(
    optionNames.map((name) => {
      const spec = optionSpec(name);
      return [name, { type: spec.value ? ('string' as const) : ('boolean' as const), ...(spec.multiple ? { multiple: true } : {}), ...(spec.short ? { short: spec.short } : {}) }];
    }),
  );
  let parsed;
  try {
    parsed = parseArgs({ args: argv, options: config, allowPositionals: true, strict: true });
  } catch (error) {
    throw new UsageError(error instanceof Error ? error.message : String(error));
  }
  const result: ParsedArgs = { positionals: parsed.positionals, strings: {}, lists: {}, flags: {} };
  for (const name of optionNames) {
    const value = parsed.values[name];
    if (typeof value === 'string') result.strings[name] = value;
    else if (typeof value === 'boolean') result.flags[name] = value;
    else if (Array.isArray(value)) result.lists[name] = value.flatMap((item) => String(item).split(',')).map((item) => item.trim()).filter(Boolean);
  }
  return result;
}

/** The options given that `command` does not take. */
export function unknownOptions(args: ParsedArgs, accepted: readonly OptionName[]): OptionName[] {
  const given = [...Object.keys(args.strings), ...Object.keys(args.lists), ...Object.keys(args.flags)];
  return optionNames.filter((name) => given.includes(name) && !accepted.includes(name) && !GLOBAL_OPTIONS.includes(name));
}

/** Upper-cases and checks values against a schema enum, naming the allowed ones when one is wrong. */
export function oneOf<Value extends string>(option: string, allowed: readonly Value[], given: string): Value {
  const value = allowed.find((candidate) => candidate === given.toUpperCase());
  if (!value) throw new UsageError(`--${option} must be one of ${allowed.join(', ')}, got "${given}"`);
  return value;
}

export function limitOf(args: ParsedArgs): number {
  const text = args.strings.limit;
  if (text === undefined) return 200;
  const limit = Number(text);
  if (!Number.isInteger(limit) || limit < 1) throw new UsageError(`--limit must be a whole number of at least 1, got "${text}"`);
  return limit;
}
