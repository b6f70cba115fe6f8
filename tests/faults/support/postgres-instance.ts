import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { chmodSync, existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

// A PostgreSQL server of the fault tests' own: initdb in a temporary folder, its own port and
// socket directory. The tests kill and restart it; the shared server on 5432 is never touched.

const BIN_ROOT = '/usr/lib/postgresql';

/** The newest installed server's bin folder, or null where PostgreSQL is not installed. */
export function postgresBin(): string | null {
  if (!existsSync(BIN_ROOT)) return null;
  const versions = readdirSync(BIN_ROOT).filter((v) => existsSync(join(BIN_ROOT, v, 'bin', 'initdb'))).sort((a, b) => Number(b) - Number(a));
  return versions[0] ? join(BIN_ROOT, versions[0], 'bin') : null;
}

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const probe = createServer();
    probe.once('error', reject);
    probe.listen(0, '127.0.0.1', () => {
      const address = probe.address();
      const port = typeof address === 'object' && address ? address.port : 0;
      probe.close(() => resolve(port));
    });
  });
}

/** initdb refuses to run as root: the cluster belongs to the `postgres` user then. */
function asOwner(command: string, args: string[]): [string, string[]] {
  if (process.getuid?.() !== 0) return [command, args];
  return ['runuser', ['-u', 'postgres', '--', command, ...args]];
}

export class PostgresInstance {
  private server: ChildProcess | null = null;

  private constructor(
    private readonly bin: string,
    readonly dir: string,
    readonly port: number,
  ) {}

  static async create(): Promise<PostgresInstance> {
    const bin = postgresBin();
    if (!bin) throw new Error('PostgreSQL is not installed');
    const dir = mkdtempSync(join(tmpdir(), 'passthru-faults-pg-'));
    chmodSync(dir, 0o777);
    const instance = new PostgresInstance(bin, dir, await freePort());
    const [command, args] = asOwner(join(bin, 'initdb'), ['-D', join(dir, 'data'), '-U', 'postgres', '-A', 'trust', '--no-sync', '-E', 'UTF8']);
    execFileSync(command, args, { stdio: 'ignore' });
    await instance.start();
    return instance;
  }

  get url(): string {
    return `postgres://postgres@127.0.0.1:${this.port}/postgres`;
  }

  /** Starts the server and resolves once it accepts connections. */
  async start() {
    const [command, args] = asOwner(join(this.bin, 'postgres'), [
      '-D', join(this.dir, 'data'), '-p', String(this.port), '-k', this.dir, '-c', 'listen_addresses=127.0.0.1', '-c', 'fsync=off',
    ]);
    this.server = spawn(command, args, { stdio: 'ignore' });
    const deadline = Date.now() + 30_000;
    for (;;) {
      try {
        execFileSync(join(this.bin, 'pg_isready'), ['-q', '-h', '127.0.0.1', '-p', String(this.port)]);
        return;
      } catch {
        if (Date.now() > deadline) throw new Error(`PostgreSQL on port ${this.port} did not start`);
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
    }
  }

  /** kill -9 of the postmaster and every backend, as a crash or an OOM kill would. */
  async kill() {
    const server = this.server;
    this.server = null;
    if (!server?.pid) return;
    const postmaster = this.postmasterPid() ?? server.pid;
    const backends = execFileSync('ps', ['-o', 'pid=', '--ppid', String(postmaster)]).toString().split('\n').map(Number).filter(Boolean);
    for (const pid of [postmaster, ...backends]) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // Already gone.
      }
    }
    await new Promise<void>((resolve) => (server.exitCode !== null ? resolve() : server.once('exit', () => resolve())));
    // A killed postmaster leaves its pid file; the next start must not take it for a live one.
    rmSync(join(this.dir, 'data', 'postmaster.pid'), { force: true });
  }

  /** runuser forks: the postmaster is its child then. */
  private postmasterPid(): number | null {
    if (!this.server?.pid) return null;
    if (process.getuid?.() !== 0) return this.server.pid;
    const child = execFileSync('ps', ['-o', 'pid=', '--ppid', String(this.server.pid)]).toString().trim().split('\n').map(Number).find(Boolean);
    return child ?? null;
  }

  async destroy() {
    await this.kill();
    rmSync(this.dir, { recursive: true, force: true });
  }
}
