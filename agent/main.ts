// passthru-agent: the host agent's command line. `passthru-agent --help` for the options.

import { pino, type Logger } from 'pino';
import type { DiscoveredDevice, HostBackend, HostFacts } from './backend.ts';
import { LinuxBackend } from './backends/linux/index.ts';
import { startSimControl, type SimControl } from './backends/sim/control.ts';
import { SimBackend } from './backends/sim/index.ts';
import { AgentClient } from './client.ts';
import { loggableUrl } from './connection.ts';
import { helpText, parseCommand, UsageError, type BackendOptions, type Command } from './cli.ts';
// Imported rather than read at run time, so the bundle (dist/passthru-agent.mjs) carries it.
import packageJson from '../package.json' with { type: 'json' };

function version(): string {
  return packageJson.version;
}

function createLogger(level: string, destination: 1 | 2): Logger {
  return pino({
    level,
    base: { pid: process.pid },
    // The token never reaches a log line; these paths are a second fence behind the code.
    redact: ['token', '*.token', 'authorization', '*.authorization', 'connectionParams'],
  },
  // Synchronous, so the last lines before a crash (or a simulated one) are not lost.
  pino.destination({ dest: destination, sync: true }));
}

function createBackend(options: BackendOptions, logger: Logger, simulatedCrash: boolean): { backend: HostBackend; sim: SimBackend | null } {
  if (options.backend === 'sim') {
    const sim = new SimBackend(options.simConfig, {
      logger,
      // A `die` fault kills this process outright, with no cleanup: a real crash.
      onDie: simulatedCrash ? () => process.kill(process.pid, 'SIGKILL') : undefined,
    });
    return { backend: sim, sim };
  }
  const backend = new LinuxBackend({
    sysfsRoot: options.sysfs,
    procRoot: options.procfs,
    ...(options.pciIds || options.usbIds
      ? { idsPaths: { ...(options.pciIds ? { pci: [options.pciIds] } : {}), ...(options.usbIds ? { usb: [options.usbIds] } : {}) } }
      : {}),
    stateDir: options.stateDir,
    virsh: { binary: options.virsh, uri: options.libvirtUri, domainType: options.domainType, storagePool: options.storagePool },
    logger,
  });
  return { backend, sim: null };
}

function table(facts: HostFacts, devices: DiscoveredDevice[]): string {
  const rows = devices.map((d) => [
    d.address,
    d.kind,
    `${d.vendorId}:${d.productId}`,
    d.driver ?? '-',
    d.iommuGroup === null ? '-' : String(d.iommuGroup),
    d.numaNode === null ? '-' : String(d.numaNode),
    d.serial ?? '-',
    [d.vendorName, d.productName].filter(Boolean).join(' ') || '-',
  ]);
  const header = ['ADDRESS', 'KIND', 'ID', 'DRIVER', 'IOMMU', 'NUMA', 'SERIAL', 'NAME'];
  const widths = header.map((title, i) => Math.max(title.length, ...rows.map((row) => row[i]!.length)));
  const line = (cells: string[]) => cells.map((cell, i) => (i === cells.length - 1 ? cell : cell.padEnd(widths[i]!))).join('  ');
  const memoryGb = (facts.memoryMb / 1024).toFixed(facts.memoryMb % 1024 === 0 ? 0 : 1);
  return [
    `Host: ${facts.cpuCores} CPUs, ${memoryGb} GiB memory, IOMMU ${facts.iommuEnabled ? 'on' : 'OFF (passthrough needs intel_iommu=on or amd_iommu=on)'}`,
    `${devices.length} device${devices.length === 1 ? '' : 's'}`,
    '',
    line(header),
    ...rows.map(line),
  ].join('\n');
}

async function inventory(command: Extract<Command, { command: 'inventory' }>): Promise<number> {
  const logger = createLogger(command.logLevel === 'info' ? 'warn' : command.logLevel, 2);
  const { backend } = createBackend(command, logger, false);
  const [facts, devices] = await Promise.all([backend.facts(), backend.inventory()]);
  if (!command.json) {
    process.stdout.write(`${table(facts, devices)}\n`);
    return 0;
  }
  // Domains as the report would carry them; null (and a warning) where libvirt cannot be listed.
  const vms = await backend.vms().catch((error: unknown) => {
    logger.warn({ err: error }, 'could not list libvirt domains');
    return null;
  });
  process.stdout.write(`${JSON.stringify({ facts, devices, vms }, null, 2)}\n`);
  return 0;
}

async function run(command: Extract<Command, { command: 'run' }>): Promise<number> {
  const logger = createLogger(command.logLevel, 1);
  const { backend, sim } = createBackend(command, logger.child({ component: 'backend' }), true);
  let control: SimControl | null = null;
  if (sim && command.simControlPort !== null) {
    control = await startSimControl(sim, command.simControlPort);
    logger.info({ port: control.port }, 'sim control listening');
  }
  logger.info({ version: version(), backend: command.backend, server: loggableUrl(command.server) }, 'passthru-agent starting');

  return new Promise<number>((done) => {
    let stopping = false;
    const stop = async (code: number, why: Record<string, unknown>) => {
      if (stopping) return;
      stopping = true;
      logger.info(why, 'stopping');
      await client.stop({ graceMs: command.graceMs });
      await control?.close();
      done(code);
    };
    const client = new AgentClient({
      serverUrl: command.server,
      token: command.token,
      backend,
      logger: logger.child({ component: 'agent' }),
      heartbeatIntervalMs: command.heartbeatMs,
      resyncIntervalMs: command.resyncMs,
      onFatal: (error) => void stop(3, { reason: error.message }),
    });
    for (const signal of ['SIGINT', 'SIGTERM'] as const) {
      process.on(signal, () => {
        // A second signal while stopping means "now".
        if (stopping) {
          logger.warn({ signal }, 'stopping at once');
          process.exit(130);
        }
        void stop(0, { signal });
      });
    }
    client.start();
  });
}

async function main(argv: string[], env: NodeJS.ProcessEnv): Promise<number> {
  let command: Command;
  try {
    command = parseCommand(argv, env);
    switch (command.command) {
      case 'help':
        process.stdout.write(helpText());
        return 0;
      case 'version':
        process.stdout.write(`passthru-agent ${version()}\n`);
        return 0;
      case 'inventory':
        return await inventory(command);
      case 'run':
        return await run(command);
    }
  } catch (error) {
    if (error instanceof UsageError) {
      process.stderr.write(`passthru-agent: ${error.message}\nTry passthru-agent --help\n`);
      return 2;
    }
    process.stderr.write(`passthru-agent: ${(error as Error).stack ?? String(error)}\n`);
    return 1;
  }
}

process.exit(await main(process.argv.slice(2), process.env));
