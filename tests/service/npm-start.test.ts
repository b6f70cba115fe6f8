// `npm start` as systemd and container runtimes run it: they signal npm's process, and
// everything under it must stop within a bounded time, clients told the server is going away.
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createClient } from 'graphql-ws';
import WebSocket from 'ws';
import { freePort, repoRoot } from '../../bench/support/processes.ts';
import { SHUTDOWN_TIMEOUT_MS } from '../../server/shutdown.ts';
import { eventually } from '../support/client.ts';
import { createTestDatabase, type TestDatabase } from '../support/database.ts';
import { ADMIN, signedInClient } from '../support/server.ts';

/** The process's children, grandchildren and so on, from /proc. */
function descendants(pid: number): number[] {
  const parentOf = new Map<number, number>();
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      parentOf.set(Number(entry), Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]));
    } catch {
      // The process ended while we looked.
    }
  }
  const found: number[] = [];
  const queue = [pid];
  while (queue.length > 0) {
    const parent = queue.shift();
    for (const [child, ppid] of parentOf) {
      if (ppid === parent) {
        found.push(child);
        queue.push(child);
      }
    }
  }
  return found;
}

function commandLine(pid: number): string {
  return readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').join(' ').trim();
}

/** A process that has ended and been reaped is gone from /proc; one reaped by nobody yet is a zombie (Z). */
function running(pid: number): boolean {
  if (!existsSync(`/proc/${pid}`)) return false;
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2)[0] !== 'Z';
  } catch {
    return false;
  }
}

describe('npm start under a supervisor', () => {
  let database: TestDatabase;
  let npm: ChildProcess;
  let url: string;
  const output: string[] = [];

  beforeAll(async () => {
    database = await createTestDatabase();
    const port = await freePort();
    url = `http://127.0.0.1:${port}`;
    const env: NodeJS.ProcessEnv = {
      ...process.env,
      PORT: String(port),
      PASSTHRU_DATA_DIR: database.dataDir,
      PASSTHRU_ADMIN_PASSWORD: ADMIN.password,
    };
    if (database.databaseUrl) env.DATABASE_URL = database.databaseUrl;
    else delete env.DATABASE_URL;
    // prestart builds dist/ and web/dist first if they are missing or stale.
    npm = spawn('npm', ['start'], { cwd: repoRoot, env, stdio: ['ignore', 'pipe', 'pipe'] });
    npm.stdout?.on('data', (chunk: Buffer) => output.push(chunk.toString()));
    npm.stderr?.on('data', (chunk: Buffer) => output.push(chunk.toString()));
    let exitedEarly: (code: number | null) => void = () => {};
    const died = new Promise<never>((_, reject) => (exitedEarly = (code) => reject(new Error(`npm start exited with ${code} before it was ready:\n${output.join('')}`))));
    npm.once('exit', exitedEarly);
    await Promise.race([eventually(() => fetch(`${url}/readyz`).then((response) => response.ok, () => false), 180_000, 250), died]);
    npm.off('exit', exitedEarly);
  }, 240_000);

  afterAll(async () => {
    // Whatever a failed test left running, so it does not outlive the suite.
    for (const pid of [...descendants(npm.pid ?? 0), npm.pid ?? 0]) if (pid > 0 && running(pid)) process.kill(pid, 'SIGKILL');
    await database.drop();
  });

  it('runs the built server with plain node: no tsx or esbuild process at run time', () => {
    const commands = descendants(npm.pid ?? 0).map(commandLine);
    expect(commands).toEqual([expect.stringMatching(/^\S*node dist\/server\.mjs$/)]);
  });

  it('SIGTERM to npm stops the server within the bound, closing graphql-ws clients with 1001 and leaving no process behind', async () => {
    const { token } = await signedInClient(url, ADMIN, 'ADMIN');
    let connected: () => void = () => {};
    const acknowledged = new Promise<void>((resolve) => (connected = resolve));
    const closed = new Promise<unknown>((resolve) => {
      const client = createClient({
        url: `${url.replace(/^http/, 'ws')}/graphql`,
        webSocketImpl: WebSocket,
        retryAttempts: 0,
        connectionParams: { authorization: `Bearer ${token}` },
        on: { connected, closed: resolve },
      });
      client.subscribe({ query: 'subscription { deviceChanged { device { id } } }' }, { next: () => {}, error: () => {}, complete: () => {} });
    });
    await acknowledged;
    const tree = [npm.pid ?? 0, ...descendants(npm.pid ?? 0)];
    const exited = new Promise<number | null>((resolve) => npm.once('exit', (code) => resolve(code)));

    const sent = Date.now();
    npm.kill('SIGTERM');
    expect(await closed).toMatchObject({ code: 1001 });
    expect(await exited).toBe(0);
    expect(Date.now() - sent).toBeLessThan(SHUTDOWN_TIMEOUT_MS);
    await eventually(async () => tree.every((pid) => !running(pid)), 2_000);
    expect(output.join('')).toContain('"msg":"stopped"');
  });
});
