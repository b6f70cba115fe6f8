// Command-line and environment parsing for passthru-agent, in one place, with the files they
// name (the token file, the sim config). One table drives both the parser and --help, so an
// option cannot exist without being documented.

import { readFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { DURATION_SYNTAX, DurationError, parseDuration } from '../protocol/duration.ts';
import { DEFAULT_SIM_CONFIG, parseSimConfig, SimConfigError, type SimHostConfig } from './backends/sim/config.ts';

export class UsageError extends Error {
  override name = 'UsageError';
}

interface OptionSpec {
  name: string;
  env?: string;
  /** Placeholder in --help; absent for flags. */
  value?: string;
  default?: string;
  help: string;
  short?: string;
  /** Where the option applies: the default command (`run`), `inventory`, or both. */
  for: ('run' | 'inventory')[];
}

const BOTH: ('run' | 'inventory')[] = ['run', 'inventory'];

export const OPTIONS: OptionSpec[] = [
  { name: 'server', env: 'PASSTHRU_SERVER', value: 'URL', help: 'The Passthru server (http(s)://host:port; its /graphql is used).', for: ['run'] },
  {
    name: 'token',
    env: 'PASSTHRU_TOKEN',
    value: 'TOKEN',
    help: 'The host token from enrollHost or rotateHostToken. Prefer the environment or --token-file: command lines show in ps.',
    for: ['run'],
  },
  { name: 'token-file', env: 'PASSTHRU_TOKEN_FILE', value: 'FILE', help: 'Read the host token from FILE instead.', for: ['run'] },
  { name: 'backend', env: 'PASSTHRU_BACKEND', value: 'linux|sim', default: 'linux', help: 'linux: this machine (sysfs, vfio-pci, libvirt). sim: a simulated host.', for: BOTH },
  { name: 'sysfs', env: 'PASSTHRU_SYSFS', value: 'DIR', default: '/sys', help: 'linux: sysfs root (a fixture tree in tests).', for: BOTH },
  { name: 'procfs', env: 'PASSTHRU_PROCFS', value: 'DIR', default: '/proc', help: 'linux: procfs root (memory, mounts).', for: BOTH },
  { name: 'pci-ids', env: 'PASSTHRU_PCI_IDS', value: 'FILE', help: "linux: pci.ids for device names (default: hwdata's).", for: BOTH },
  { name: 'usb-ids', env: 'PASSTHRU_USB_IDS', value: 'FILE', help: "linux: usb.ids for device names (default: hwdata's).", for: BOTH },
  {
    name: 'state-dir',
    env: 'PASSTHRU_STATE_DIR',
    value: 'DIR',
    default: '/var/lib/passthru-agent',
    help: 'linux: where the driver each detached device came from is kept.',
    for: ['run'],
  },
  { name: 'libvirt-uri', env: 'PASSTHRU_LIBVIRT_URI', value: 'URI', default: 'qemu:///system', help: 'linux: libvirt connection for VMs.', for: ['run'] },
  { name: 'virsh', env: 'PASSTHRU_VIRSH', value: 'PATH', default: 'virsh', help: 'linux: the virsh binary.', for: ['run'] },
  { name: 'domain-type', env: 'PASSTHRU_DOMAIN_TYPE', value: 'TYPE', default: 'kvm', help: "linux: libvirt domain type (test:///default needs 'test').", for: ['run'] },
  {
    name: 'storage-pool',
    env: 'PASSTHRU_STORAGE_POOL',
    value: 'POOL',
    help: 'linux: libvirt storage pool for VM disks (<vm>.qcow2); without it VMs get no disk.',
    for: ['run'],
  },
  { name: 'heartbeat', env: 'PASSTHRU_HEARTBEAT', value: 'DURATION', default: '10s', help: 'Heartbeat interval (the server marks a host OFFLINE after 30 s of silence).', for: ['run'] },
  { name: 'resync', env: 'PASSTHRU_RESYNC', value: 'DURATION', default: '5m', help: 'Full inventory report interval, besides every reconnect.', for: ['run'] },
  { name: 'grace', env: 'PASSTHRU_GRACE', value: 'DURATION', default: '10s', help: 'On SIGTERM/SIGINT, how long the operation in hand may take to finish.', for: ['run'] },
  { name: 'log-level', env: 'PASSTHRU_LOG_LEVEL', value: 'LEVEL', default: 'info', help: 'trace, debug, info, warn, error, fatal or silent.', for: BOTH },
  {
    name: 'sim-config',
    env: 'PASSTHRU_SIM_CONFIG',
    value: 'FILE',
    help: 'sim: JSON host description (GPUs, USB, NVMe, latency, faults, stateFile). Default: a small GPU host.',
    for: BOTH,
  },
  {
    name: 'sim-control',
    env: 'PASSTHRU_SIM_CONTROL',
    value: 'PORT',
    help: 'sim: serve a control API on 127.0.0.1:PORT (0 picks one; it is logged) to pull devices and inject faults.',
    for: ['run'],
  },
  { name: 'json', help: 'inventory: print JSON instead of a table.', for: ['inventory'] },
  { name: 'help', short: 'h', help: 'Print this help.', for: BOTH },
  { name: 'version', help: 'Print the version.', for: BOTH },
];

const LOG_LEVELS = ['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent'];

export interface BackendOptions {
  backend: 'linux' | 'sim';
  sysfs: string;
  procfs: string;
  pciIds: string | null;
  usbIds: string | null;
  stateDir: string;
  libvirtUri: string;
  virsh: string;
  domainType: string;
  storagePool: string | null;
  /** The simulated host for --backend sim: the --sim-config file checked, else DEFAULT_SIM_CONFIG. */
  simConfig: SimHostConfig;
}

export interface RunCommand extends BackendOptions {
  command: 'run';
  server: string;
  token: string;
  heartbeatMs: number;
  resyncMs: number;
  graceMs: number;
  logLevel: string;
  simControlPort: number | null;
}

export interface InventoryCommand extends BackendOptions {
  command: 'inventory';
  json: boolean;
  logLevel: string;
}

export type Command = RunCommand | InventoryCommand | { command: 'help' } | { command: 'version' };

function option(values: Record<string, unknown>, env: NodeJS.ProcessEnv, name: string): string | undefined {
  const flag = values[name];
  if (typeof flag === 'string') return flag;
  const spec = OPTIONS.find((o) => o.name === name)!;
  const fromEnv = spec.env ? env[spec.env] : undefined;
  if (fromEnv !== undefined && fromEnv !== '') return fromEnv;
  return spec.default;
}

function durationAtLeast(values: Record<string, unknown>, env: NodeJS.ProcessEnv, name: string, minMs: number): number {
  let ms: number;
  try {
    ms = parseDuration(option(values, env, name)!, `--${name}`);
  } catch (error) {
    throw error instanceof DurationError ? new UsageError(error.message) : error;
  }
  if (ms < minMs) throw new UsageError(`--${name} must be at least ${minMs} ms`);
  return ms;
}

function loadSimConfig(file: string | undefined): SimHostConfig {
  if (!file) return DEFAULT_SIM_CONFIG;
  let raw: unknown;
  try {
    raw = JSON.parse(readFileSync(file, 'utf8'));
  } catch (error) {
    throw new UsageError(`cannot read the sim config ${file}: ${(error as Error).message}`);
  }
  let config;
  try {
    config = parseSimConfig(raw);
  } catch (error) {
    throw error instanceof SimConfigError ? new UsageError(error.message) : error;
  }
  // A state file named relative to the config lives beside it.
  return config.stateFile ? { ...config, stateFile: resolve(dirname(file), config.stateFile) } : config;
}

function backendOptions(values: Record<string, unknown>, env: NodeJS.ProcessEnv): BackendOptions {
  const backend = option(values, env, 'backend');
  if (backend !== 'linux' && backend !== 'sim') throw new UsageError(`--backend must be linux or sim, got "${backend}"`);
  return {
    backend,
    sysfs: option(values, env, 'sysfs')!,
    procfs: option(values, env, 'procfs')!,
    pciIds: option(values, env, 'pci-ids') ?? null,
    usbIds: option(values, env, 'usb-ids') ?? null,
    stateDir: option(values, env, 'state-dir')!,
    libvirtUri: option(values, env, 'libvirt-uri')!,
    virsh: option(values, env, 'virsh')!,
    domainType: option(values, env, 'domain-type')!,
    storagePool: option(values, env, 'storage-pool') ?? null,
    // Read only for the simulated host: a linux agent ignores a sim config, even a broken one.
    simConfig: backend === 'sim' ? loadSimConfig(option(values, env, 'sim-config')) : DEFAULT_SIM_CONFIG,
  };
}

function logLevel(values: Record<string, unknown>, env: NodeJS.ProcessEnv): string {
  const level = option(values, env, 'log-level')!;
  if (!LOG_LEVELS.includes(level)) throw new UsageError(`--log-level must be one of ${LOG_LEVELS.join(', ')}, got "${level}"`);
  return level;
}

function tokenFromFile(file: string): string {
  let token: string;
  try {
    token = readFileSync(file, 'utf8').trim();
  } catch (error) {
    throw new UsageError(`cannot read the token file ${file}: ${(error as Error).message}`);
  }
  if (!token) throw new UsageError(`the token file ${file} is empty`);
  return token;
}

/** Flags before the environment; a token before a token file at the same level. */
function readToken(values: Record<string, unknown>, env: NodeJS.ProcessEnv): string {
  if (typeof values.token === 'string' && values.token.trim()) return values.token.trim();
  if (typeof values['token-file'] === 'string') return tokenFromFile(values['token-file']);
  if (env.PASSTHRU_TOKEN?.trim()) return env.PASSTHRU_TOKEN.trim();
  if (env.PASSTHRU_TOKEN_FILE) return tokenFromFile(env.PASSTHRU_TOKEN_FILE);
  throw new UsageError('no host token: pass --token or --token-file, or set PASSTHRU_TOKEN (enrollHost gives one)');
}

/** Turns argv (without node and the script) and the environment into a command. Flags win over the environment. */
export function parseCommand(argv: string[], env: NodeJS.ProcessEnv = {}): Command {
  let parsed;
  try {
    parsed = parseArgs({
      args: argv,
      allowPositionals: true,
      strict: true,
      options: Object.fromEntries(
        OPTIONS.map((o) => [o.name, { type: o.value ? ('string' as const) : ('boolean' as const), ...(o.short ? { short: o.short } : {}) }]),
      ),
    });
  } catch (error) {
    throw new UsageError((error as Error).message);
  }
  const { values, positionals } = parsed;
  if (values.help || positionals[0] === 'help') return { command: 'help' };
  if (values.version) return { command: 'version' };
  if (positionals.length > 1 || (positionals[0] !== undefined && positionals[0] !== 'inventory' && positionals[0] !== 'run')) {
    throw new UsageError(`unknown command "${positionals.join(' ')}"; the commands are: (none) to run the agent, inventory`);
  }
  const command = positionals[0] === 'inventory' ? 'inventory' : 'run';
  for (const spec of OPTIONS) {
    if (values[spec.name] !== undefined && !spec.for.includes(command)) {
      throw new UsageError(`--${spec.name} does not apply to ${command === 'run' ? 'running the agent' : 'inventory'}`);
    }
  }
  if (command === 'inventory') {
    return { command, ...backendOptions(values, env), json: values.json === true, logLevel: logLevel(values, env) };
  }

  const server = option(values, env, 'server');
  if (!server) throw new UsageError('no server: pass --server URL or set PASSTHRU_SERVER');
  let url: URL;
  try {
    url = new URL(server);
  } catch {
    throw new UsageError(`--server "${server}" is not a URL; write it like https://passthru.example.com`);
  }
  if (!['http:', 'https:', 'ws:', 'wss:'].includes(url.protocol)) throw new UsageError(`--server must be an http(s):// or ws(s):// URL, got ${url.protocol}`);

  const control = option(values, env, 'sim-control');
  let simControlPort: number | null = null;
  if (control !== undefined) {
    simControlPort = Number(control);
    if (!Number.isInteger(simControlPort) || simControlPort < 0 || simControlPort > 65535) throw new UsageError(`--sim-control must be a port number, got "${control}"`);
  }
  const backend = backendOptions(values, env);
  if (simControlPort !== null && backend.backend !== 'sim') throw new UsageError('--sim-control needs --backend sim');
  return {
    command: 'run',
    ...backend,
    server,
    token: readToken(values, env),
    heartbeatMs: durationAtLeast(values, env, 'heartbeat', 100),
    resyncMs: durationAtLeast(values, env, 'resync', 1000),
    graceMs: durationAtLeast(values, env, 'grace', 0),
    logLevel: logLevel(values, env),
    simControlPort,
  };
}

export function helpText(): string {
  const left = (o: OptionSpec) => `${o.short ? `-${o.short}, ` : ''}--${o.name}${o.value ? ` ${o.value}` : ''}`;
  const width = Math.max(...OPTIONS.map((o) => left(o).length));
  const envWidth = Math.max(...OPTIONS.map((o) => (o.env ?? '').length));
  const lines = OPTIONS.map((o) => {
    const help = o.default ? `${o.help} Default: ${o.default}.` : o.help;
    return `  ${left(o).padEnd(width)}  ${(o.env ?? '').padEnd(envWidth)}  ${help}`;
  });
  return `passthru-agent: the Passthru host agent. It reports this host's GPUs, USB devices and NVMe
drives to the Passthru server, and detaches, assigns and releases them and runs VMs on request.

Usage:
  passthru-agent --server URL --token TOKEN [options]   connect and serve this host until stopped
  passthru-agent inventory [--backend linux|sim] [--sysfs DIR] [--json]
                                                        print what the agent would report, without connecting

Options (each can also come from the environment variable beside it; flags win):
${lines.join('\n')}

Durations: ${DURATION_SYNTAX}.
SIGINT/SIGTERM stop the agent cleanly: the operation in hand finishes (within --grace), the rest
is left for the server to replay on the next connection.

Exit status: 0 stopped cleanly, 1 runtime error, 2 bad usage, 3 the server refused the token.
`;
}
