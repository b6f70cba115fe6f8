// The chaos run's own PostgreSQL server. The same commands as tests/faults/support/postgres-instance.ts
// (initdb as the postgres user in a temporary folder, kill -9 of the postmaster and every backend),
// with two differences a long series of kills needs: the postmaster's output goes to a log file
// (a restart that fails says why), and a restart that does not come up is retried.

import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { chmodSync, closeSync, mkdtempSync, openSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { postgresBin } from '../../tests/faults/support/postgres-instance.ts';
import { sleep } from './util.ts';

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const probe = createServer();
    probe.once('error', reject);
    probe.listen(0, '127.0.0.1', () => {
      const address = probe.address();
      probe.close(() => resolve(typeof address === 'object' && address ? address.port : 0));
    });
  });
}

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

export class ChaosPostgres {
  private server: ChildProcess | null = null;

  private constructor(
    private readonly bin: string,
    readonly dir: string,
    readonly port: number,
    private readonly logFile: string,
  ) {}

  static async create(logFile: string): Promise<ChaosPostgres> {
    const bin = postgresBin();
    if (!bin) throw new Error('PostgreSQL is not installed');
    const dir = mkdtempSync(join(tmpdir(), 'passthru-chaos-pg-'));
    chmodSync(dir, 0o777);
    const instance = new ChaosPostgres(bin, dir, await freePort(), logFile);
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
      if (attempt >= attempts) throw new Error(`PostgreSQL on port ${this.port} did not start after ${attempts} attempts; see ${this.logFile}`);
      await this.kill();
      await sleep(1000);
    }
  }

  async #startOnce(): Promise<boolean> {
    const [command, args] = asOwner(join(this.bin, 'postgres'), [
      '-D', join(this.dir, 'data'), '-p', String(this.port), '-k', this.dir, '-c', 'listen_addresses=127.0.0.1', '-c', 'fsync=off', '-c', 'max_connections=200',
    ]);
    const log = openSync(this.logFile, 'a');
    const server = spawn(command, args, { stdio: ['ignore', log, log] });
    closeSync(log);
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
