// Helpers for the agent tests: reading operations and VMs and running commands through the
// public API, a TCP proxy that can cut the agent off the server, and real agent processes.

import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, connect, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino, type Logger } from 'pino';
import type { SimHostConfig } from '../../agent/backends/sim/index.ts';
import { AssignDevice, AttachDevice, DeleteVm, DetachDevice, OperationById, ProvisionVm, ReleaseDevice } from '../../protocol/commands.ts';
import { graphql, type VariablesOf } from '../../protocol/graphql.ts';
import { eventually, type TestClient } from '../support/client.ts';

export const repoRoot = new URL('../../', import.meta.url).pathname;

/** Agent logs in tests: silent unless PASSTHRU_TEST_LOG=debug (or another level) is set. */
export function testLogger(): Logger {
  return pino({ level: process.env.PASSTHRU_TEST_LOG ?? 'silent' });
}

const VmWithDevices = graphql(`
  query VmWithDevices($id: ID!) { node(id: $id) { __typename ... on VM { id name status devices { nodes { id address kind status } } } } }
`);

export async function operation(client: TestClient, id: string) {
  const { node } = await client.data(OperationById, { id });
  if (node?.__typename !== 'Operation') throw new Error(`${id} is not an operation: ${node?.__typename ?? 'nothing'}`);
  return node;
}

export async function vm(client: TestClient, id: string) {
  const { node } = await client.data(VmWithDevices, { id });
  return node?.__typename === 'VM' ? { ...node, devices: node.devices.nodes } : null;
}

type Refusal = { __typename: string; message: string };

/** A device command's answer: the ID of its queued operation; a refusal fails the test with its message. */
function queuedOperation(mutation: string, outcome: { __typename: 'DeviceOperationSuccess'; operation: { id: string } } | Refusal): string {
  if ('operation' in outcome) return outcome.operation.id;
  throw new Error(`${mutation}: ${outcome.__typename}: ${outcome.message}`);
}

/** A VM command's answer: the VM and its queued operation; a refusal fails the test with its message. */
function queuedVmOperation(mutation: string, outcome: { __typename: 'VmOperationSuccess'; vm: { id: string }; operation: { id: string } } | Refusal) {
  if ('operation' in outcome) return { vmId: outcome.vm.id, operationId: outcome.operation.id };
  throw new Error(`${mutation}: ${outcome.__typename}: ${outcome.message}`);
}

export async function detachDevice(client: TestClient, deviceId: string): Promise<string> {
  return queuedOperation('detachDevice', (await client.data(DetachDevice, { deviceId })).detachDevice);
}

export async function attachDevice(client: TestClient, deviceId: string): Promise<string> {
  return queuedOperation('attachDevice', (await client.data(AttachDevice, { deviceId })).attachDevice);
}

export async function assignDevice(client: TestClient, variables: VariablesOf<typeof AssignDevice>): Promise<string> {
  return queuedOperation('assignDevice', (await client.data(AssignDevice, variables)).assignDevice);
}

export async function releaseDevice(client: TestClient, deviceId: string): Promise<string> {
  return queuedOperation('releaseDevice', (await client.data(ReleaseDevice, { deviceId })).releaseDevice);
}

export async function provisionVm(client: TestClient, input: VariablesOf<typeof ProvisionVm>['input']): Promise<{ vmId: string; operationId: string }> {
  return queuedVmOperation('provisionVm', (await client.data(ProvisionVm, { input })).provisionVm);
}

export async function deleteVm(client: TestClient, vmId: string): Promise<{ vmId: string; operationId: string }> {
  return queuedVmOperation('deleteVm', (await client.data(DeleteVm, { vmId })).deleteVm);
}

/** Waits until the operation has ended; returns it. */
export function operationEnded(client: TestClient, id: string, timeoutMs = 30_000) {
  return eventually(async () => {
    const op = await operation(client, id);
    return op.status === 'SUCCEEDED' || op.status === 'FAILED' ? op : null;
  }, timeoutMs);
}

/** A TCP proxy in front of the server that can cut every connection and refuse new ones. */
export class TcpProxy {
  readonly #server: Server;
  readonly #sockets = new Set<Socket>();
  #open = true;

  private constructor(server: Server) {
    this.#server = server;
  }

  static async start(targetPort: number): Promise<TcpProxy> {
    const server = createServer();
    const proxy = new TcpProxy(server);
    server.on('connection', (client) => proxy.#accept(client, targetPort));
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    return proxy;
  }

  get url(): string {
    const address = this.#server.address() as { port: number };
    return `http://127.0.0.1:${address.port}`;
  }

  #accept(client: Socket, targetPort: number) {
    if (!this.#open) {
      client.destroy();
      return;
    }
    const upstream = connect(targetPort, '127.0.0.1');
    const drop = () => {
      client.destroy();
      upstream.destroy();
      this.#sockets.delete(client);
      this.#sockets.delete(upstream);
    };
    for (const socket of [client, upstream]) {
      this.#sockets.add(socket);
      socket.on('error', drop);
      socket.on('close', drop);
    }
    client.pipe(upstream);
    upstream.pipe(client);
  }

  /** Drops every connection and refuses new ones until restore(). */
  cut() {
    this.#open = false;
    for (const socket of this.#sockets) socket.destroy();
    this.#sockets.clear();
  }

  restore() {
    this.#open = true;
  }

  async close() {
    this.cut();
    await new Promise<void>((resolve) => this.#server.close(() => resolve()));
  }
}

/** How an agent process is started: node and its arguments before the agent's own. The default runs the TypeScript source. */
export const SOURCE_AGENT = [process.execPath, '--import', 'tsx', 'agent/main.ts'];

/** A real `passthru-agent` process with the sim backend, its JSON log lines collected. */
export class AgentProcess {
  readonly logs: Record<string, any>[] = [];
  readonly child: ChildProcess;
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  #stderr = '';
  #waiters: (() => void)[] = [];

  constructor(args: string[], env: NodeJS.ProcessEnv = {}, launch: string[] = SOURCE_AGENT) {
    const [node = process.execPath, ...nodeArgs] = launch;
    this.child = spawn(node, [...nodeArgs, ...args], {
      cwd: repoRoot,
      env: { ...process.env, ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let buffer = '';
    this.child.stdout!.setEncoding('utf8').on('data', (chunk: string) => {
      buffer += chunk;
      for (let newline = buffer.indexOf('\n'); newline >= 0; newline = buffer.indexOf('\n')) {
        const line = buffer.slice(0, newline);
        buffer = buffer.slice(newline + 1);
        try {
          this.logs.push(JSON.parse(line));
        } catch {
          this.logs.push({ msg: line });
        }
        if (process.env.PASSTHRU_TEST_LOG) process.stdout.write(`[agent ${this.child.pid}] ${line}\n`);
      }
      this.#waiters.splice(0).forEach((wake) => wake());
    });
    this.child.stderr!.setEncoding('utf8').on('data', (chunk: string) => (this.#stderr += chunk));
    this.exited = new Promise((resolve) => this.child.once('exit', (code, signal) => resolve({ code, signal })));
  }

  /** Sim agent for a host: writes its config to a temp file and starts `passthru-agent --backend sim`. */
  static sim(options: { server: string; token: string; config: SimHostConfig; args?: string[]; dir?: string; launch?: string[] }): AgentProcess {
    const dir = options.dir ?? mkdtempSync(join(tmpdir(), 'passthru-agent-'));
    const configFile = join(dir, `sim-${Math.random().toString(36).slice(2, 8)}.json`);
    writeFileSync(configFile, JSON.stringify(options.config));
    return new AgentProcess(
      ['--backend', 'sim', '--sim-config', configFile, '--server', options.server, '--heartbeat', '1s', '--log-level', 'debug', ...(options.args ?? [])],
      // The token through the environment, as the systemd unit does.
      { PASSTHRU_TOKEN: options.token },
      options.launch,
    );
  }

  get stderr(): string {
    return this.#stderr;
  }

  /** Resolves with the first log line (already logged or not) that passes `match`. */
  async waitForLog(match: (line: Record<string, any>) => boolean, timeoutMs = 30_000): Promise<Record<string, any>> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const found = this.logs.find(match);
      if (found) return found;
      if (this.child.exitCode !== null || this.child.signalCode !== null) {
        throw new Error(`agent exited (${this.child.exitCode ?? this.child.signalCode}) before the expected log line; stderr: ${this.#stderr}`);
      }
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`no matching agent log line within ${timeoutMs} ms; last lines: ${JSON.stringify(this.logs.slice(-5))}`);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, Math.min(left, 250));
        this.#waiters.push(() => {
          clearTimeout(timer);
          resolve();
        });
      });
    }
  }

  /** The port of the sim control API (needs `--sim-control 0`). */
  async controlPort(): Promise<number> {
    return (await this.waitForLog((line) => line.msg === 'sim control listening')).port;
  }

  async control(path: string, body?: unknown, method = body === undefined ? 'GET' : 'POST'): Promise<any> {
    const response = await fetch(`http://127.0.0.1:${await this.controlPort()}${path}`, {
      method,
      headers: { 'content-type': 'application/json' },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });
    const result = await response.json();
    if (!response.ok) throw new Error(`sim control ${path}: ${JSON.stringify(result)}`);
    return result;
  }

  /** SIGTERM and wait; SIGKILL if it does not exit in time. */
  async stop(timeoutMs = 15_000): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
    if (this.child.exitCode === null && this.child.signalCode === null) {
      this.child.kill('SIGTERM');
      const timer = setTimeout(() => this.child.kill('SIGKILL'), timeoutMs);
      try {
        return await this.exited;
      } finally {
        clearTimeout(timer);
      }
    }
    return this.exited;
  }
}

export function tempDir(prefix = 'passthru-agent-'): { path: string; remove(): void } {
  const path = mkdtempSync(join(tmpdir(), prefix));
  return { path, remove: () => rmSync(path, { recursive: true, force: true }) };
}
