// Running virsh against one libvirt connection, without a shell.

import { execFile } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);

export interface VirshOptions {
  binary: string;
  uri: string;
  /** A hung libvirtd fails the operation instead of stalling the agent. */
  commandTimeoutMs: number;
}

/** States in which a domain is defined but not running (`virsh domstate` output). */
const INACTIVE_STATES = new Set(['shut off', 'crashed']);

export function isActive(state: string): boolean {
  return !INACTIVE_STATES.has(state);
}

export class Virsh {
  readonly #options: VirshOptions;

  constructor(options: VirshOptions) {
    this.#options = options;
  }

  get uri(): string {
    return this.#options.uri;
  }

  /** Runs one virsh command; throws with virsh's own error text. */
  async run(...args: string[]): Promise<string> {
    const { binary, uri, commandTimeoutMs } = this.#options;
    try {
      const { stdout } = await run(binary, ['-c', uri, ...args], {
        timeout: commandTimeoutMs,
        // Errors are matched on their English text, so keep virsh from translating them.
        env: { ...process.env, LC_ALL: 'C' },
      });
      return stdout;
    } catch (error) {
      const { stderr, killed } = error as { stderr?: string; killed?: boolean };
      const reason = killed
        ? `no answer within ${commandTimeoutMs} ms`
        : (stderr ?? '').trim().replace(/^error: /gm, '') || (error as Error).message;
      throw new Error(`virsh ${args.join(' ')}: ${reason}`);
    }
  }

  /** `running`, `shut off`, `paused`...; null when no such domain is defined. */
  async domainState(name: string): Promise<string | null> {
    try {
      return (await this.run('domstate', name)).trim();
    } catch (error) {
      if ((error as Error).message.includes('failed to get domain')) return null;
      throw error;
    }
  }

  async volumeExists(pool: string, volume: string): Promise<boolean> {
    try {
      await this.run('vol-info', '--pool', pool, volume);
      return true;
    } catch (error) {
      if ((error as Error).message.includes('failed to get vol')) return false;
      throw error;
    }
  }

  /** Runs a command that takes an XML file argument, from a private temporary file. */
  async runWithXmlFile(xml: string, args: (file: string) => string[]): Promise<string> {
    const dir = await mkdtemp(join(tmpdir(), 'passthru-virsh-'));
    try {
      const file = join(dir, 'definition.xml');
      await writeFile(file, xml);
      return await this.run(...args(file));
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  }
}
