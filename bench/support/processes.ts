// Child processes of the benchmarks, each pinned to a core with taskset so the server under
// test and the load generator do not share one: the server (and the floor) on core 0, the
// load generator (this process) on core 1.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { createWriteStream, mkdirSync, readFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { sleep } from './stats.ts';

export const repoRoot = new URL('../../', import.meta.url).pathname;
export const ADMIN_PASSWORD = 'bench horse battery staple';
const CLOCK_TICKS_PER_SECOND = Number(spawnSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).stdout.trim()) || 100;

/** Pins this process (all its threads) to one core. */
export function pinSelf(core: number) {
  const result = spawnSync('taskset', ['-a', '-cp', String(core), String(process.pid)], { encoding: 'utf8' });
  if (result.status !== 0) throw new Error(`taskset failed: ${result.stderr}`);
}

export async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  await new Promise<void>((resolve) => server.close(() => resolve()));
  if (address === null || typeof address === 'string') throw new Error('no TCP port');
  return address.port;
}

/** CPU time (user + system, ms) and resident memory (MiB) of a process, from /proc. */
export interface ProcSample {
  at: number;
  cpuMs: number;
  rssMb: number;
}

export function sampleProcess(pid: number): ProcSample {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  // Fields after the command name, which is in parentheses and may contain spaces.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  const ticks = Number(fields[11]) + Number(fields[12]);
  const rssKb = Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1] ?? Number.NaN);
  return { at: Date.now(), cpuMs: (ticks * 1000) / CLOCK_TICKS_PER_SECOND, rssMb: rssKb / 1024 };
}

/** Percent of one core used between two samples. */
export function cpuPercent(from: ProcSample, to: ProcSample): number {
  return (100 * (to.cpuMs - from.cpuMs)) / Math.max(1, to.at - from.at);
}

export interface Child {
  readonly pid: number;
  readonly port: number;
  readonly url: string;
  readonly exited: Promise<void>;
  sample(): ProcSample;
  /** Signals the child and waits for it; SIGKILL after `timeoutMs`. */
  stop(signal?: NodeJS.Signals, timeoutMs?: number): Promise<void>;
}

export interface ChildOptions {
  /** Script path relative to the repository root, run with tsx. */
  script: string;
  port: number;
  core: number;
  env: Record<string, string>;
  logFile: string;
  /** Write a V8 CPU profile (.cpuprofile) into this directory when the child exits normally. */
  cpuProfileDir?: string | undefined;
}

export function startChild(options: ChildOptions): Child {
  const nodeArgs = options.cpuProfileDir ? ['--cpu-prof', `--cpu-prof-dir=${options.cpuProfileDir}`] : [];
  if (options.cpuProfileDir) mkdirSync(options.cpuProfileDir, { recursive: true });
  const env: NodeJS.ProcessEnv = { ...process.env, ...options.env, PORT: String(options.port) };
  // The bench's own PostgreSQL URL must not leak into a PGlite server.
  if (!options.env.DATABASE_URL) delete env.DATABASE_URL;
  const child: ChildProcess = spawn('taskset', ['-c', String(options.core), process.execPath, ...nodeArgs, '--import', 'tsx', options.script], {
    cwd: repoRoot,
    env,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const log = createWriteStream(options.logFile, { flags: 'a' });
  child.stdout!.pipe(log, { end: false });
  child.stderr!.pipe(log, { end: false });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const pid = child.pid;
  if (pid === undefined) throw new Error(`could not start ${options.script}`);
  return {
    pid,
    port: options.port,
    url: `http://127.0.0.1:${options.port}`,
    exited,
    sample: () => sampleProcess(pid),
    async stop(signal: NodeJS.Signals = 'SIGINT', timeoutMs = 15_000) {
      if (child.exitCode !== null || child.signalCode !== null) return;
      child.kill(signal);
      const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
      await exited;
      clearTimeout(timer);
    },
  };
}

/** The Passthru server (server/main.ts) as production runs it. */
export async function startServer(options: {
  port: number;
  core: number;
  databaseUrl?: string | undefined;
  dataDir: string;
  logDir: string;
  cpuProfileDir?: string | undefined;
  env?: Record<string, string>;
}): Promise<Child> {
  const child = startChild({
    script: 'server/main.ts',
    port: options.port,
    core: options.core,
    logFile: join(options.logDir, `server-${options.port}.log`),
    cpuProfileDir: options.cpuProfileDir,
    env: {
      ...(options.databaseUrl ? { DATABASE_URL: options.databaseUrl } : {}),
      PASSTHRU_DATA_DIR: options.dataDir,
      PASSTHRU_ADMIN_PASSWORD: ADMIN_PASSWORD,
      LOG_LEVEL: 'warn',
      // The bench's subscribers and agents all come from this machine, many on one credential.
      PASSTHRU_MAX_SOCKETS_PER_ADDRESS: '1000000',
      PASSTHRU_MAX_SOCKETS_PER_CREDENTIAL: '1000000',
      PASSTHRU_MAX_SUBSCRIPTIONS_PER_CREDENTIAL: '1000000',
      ...options.env,
    },
  });
  await untilServing(child, join(options.logDir, `server-${options.port}.log`));
  return child;
}

/** Waits until the server answers a GraphQL request (migrations done, port open). */
export async function untilServing(child: Child, logFile: string, timeoutMs = 60_000) {
  let gone = false;
  void child.exited.then(() => (gone = true));
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline && !gone) {
    try {
      const response = await fetch(`${child.url}/graphql`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ query: '{ __typename }' }),
      });
      if (response.ok) return;
    } catch {
      // not listening yet
    }
    await sleep(100);
  }
  throw new Error(`server on port ${child.port} did not come up; see ${logFile}:\n${readFileSync(logFile, 'utf8').slice(-2000)}`);
}
