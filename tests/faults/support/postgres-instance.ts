// A PostgreSQL server of the fault tests' and the chaos run's own: initdb in a temporary folder,
// its own port and socket directory. They kill it with -9 and start it again, many times; the
// shared server on 5432 is never touched. A start that does not come up is retried, and the
// postmaster's output can go to a log file so a failed restart says why.

import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { chmodSync, closeSync, existsSync, mkdtempSync, openSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { freePort } from '../../../bench/support/processes.ts';

const BIN_ROOT = '/usr/lib/postgresql';

/** The newest installed server's bin folder, or null where PostgreSQL is not installed. */
export function postgresBin(): string | null {
  if (!existsSync(BIN_ROOT)) return null;
  const versions = readdirSync(BIN_ROOT).filter((v) => existsSync(join(BIN_ROOT, v, 'bin', 'initdb'))).sort((a, b) => Number(b) - Number(a));
  return versions[0] ? join(BIN_ROOT, versions[0], 'bin') : null;
}

/** initdb refuses to run as root: the cluster belongs to the `postgres` user then. */
function asOwner(command: string, args: string[]): [string, string[]] {
  if (process.getuid?.() !== 0) return [command, args];
  return ['runuser', ['-u', 'postgres', '--', command, ...args]];
}

function childrenOf(pid: number): number[] {
  try {
    return execFileSync('ps', ['-o', 'pid=', '--ppid', String(pid)]).toString().split('\n').map(Number).filter(Boolean);
  } catch {
    return []; // ps exits 1 when nothing matches
  }
}

export class PostgresInstance {
  private server: ChildProcess | null = null;

  private constructor(
    private readonly bin: string,
    readonly dir: string,
    readonly port: number,
    /** Where the postmaster writes; null: nowhere. */
    private readonly logFile: string | null,
  ) {}

  static async create(options: { logFile?: string } = {}): Promise<PostgresInstance> {
    const bin = postgresBin();
    if (!bin) throw new Error('PostgreSQL is not installed');
    const dir = mkdtempSync(join(tmpdir(), 'passthru-faults-pg-'));
    chmodSync(dir, 0o777);
    const instance = new PostgresInstance(bin, dir, await freePort(), options.logFile ?? null);
    const [command, args] = asOwner(join(bin, 'initdb'), ['-D', join(dir, 'data'), '-U', 'postgres', '-A', 'trust', '--no-sync', '-E', 'UTF8']);
    execFileSync(command, args, { stdio: 'ignore' });
    await instance.start();
    return instance;
  }

  get url(): string {
    return `postgres://postgres@127.0.0.1:${this.port}/postgres`;
  }

  /** Starts the server and resolves once it accepts connections; retries a start that fails. */
  async start(attempts = 5) {
    for (let attempt = 1; ; attempt++) {
      if (await this.#startOnce()) return;
      if (attempt >= attempts) throw new Error(`PostgreSQL on port ${this.port} did not start after ${attempts} attempts; see ${this.logFile ?? 'its log (pass logFile to keep it)'}`);
      await this.kill();
      await sleep(1000);
    }
  }

  async #startOnce(): Promise<boolean> {
    const [command, args] = asOwner(join(this.bin, 'postgres'), [
      '-D', join(this.dir, 'data'), '-p', String(this.port), '-k', this.dir, '-c', 'listen_addresses=127.0.0.1', '-c', 'fsync=off', '-c', 'max_connections=200',
    ]);
    const log = this.logFile ? openSync(this.logFile, 'a') : 'ignore';
    const server = spawn(command, args, { stdio: ['ignore', log, log] });
    if (typeof log === 'number') closeSync(log);
    this.server = server;
    const deadline = Date.now() + 15_000;
    for (;;) {
      try {
        execFileSync(join(this.bin, 'pg_isready'), ['-q', '-h', '127.0.0.1', '-p', String(this.port)]);
        return true;
      } catch {
        if (server.exitCode !== null || server.signalCode !== null || Date.now() > deadline) return false;
        await sleep(100);
      }
    }
  }

  /** kill -9 of the postmaster and every backend, as a crash or an OOM kill would. */
  async kill() {
    const server = this.server;
    this.server = null;
    if (!server?.pid) return;
    const postmaster = process.getuid?.() === 0 ? (childrenOf(server.pid)[0] ?? null) : server.pid;
    const targets = postmaster ? [postmaster, ...childrenOf(postmaster)] : [server.pid];
    for (const pid of targets) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // Already gone.
      }
    }
    if (server.exitCode === null && server.signalCode === null) await new Promise<void>((resolve) => server.once('exit', () => resolve()));
    rmSync(join(this.dir, 'data', 'postmaster.pid'), { force: true });
  }

  async destroy() {
    await this.kill().catch(() => undefined);
    rmSync(this.dir, { recursive: true, force: true });
  }
}
