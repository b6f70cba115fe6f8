// The system under test: a PostgreSQL instance of its own, two server processes on it, and N
// sim agent processes with state files, each process restartable and killable with -9.

import { spawn, type ChildProcess } from 'node:child_process';
import { createWriteStream, mkdirSync, writeFileSync, type WriteStream } from 'node:fs';
import { freePort } from '../support/processes.ts';
import { join } from 'node:path';
import { print } from 'graphql';
import type { SimHostConfig } from '../../agent/backends/sim/index.ts';
import { TcpProxy } from '../../tests/agent/support.ts';
import { PostgresInstance } from '../../tests/faults/support/postgres-instance.ts';
import { createCluster, createServicePlan, enrollHost, type Send } from '../../protocol/fleet.ts';
import { graphql, poll } from './util.ts';

export const repoRoot = new URL('../../', import.meta.url).pathname;
export const ADMIN = { username: 'admin', password: 'chaos horse battery staple' };

/** Server timeouts, short so that a run reaches quiescence in seconds. */
export const TIMEOUTS = {
  operationSeconds: 5,
  queueSeconds: 10,
  heartbeatSeconds: 6,
  disconnectGraceSeconds: 2,
  maxQueuedPerHost: 8,
  /** Agents' heartbeat and full-inventory resync intervals. */
  agentHeartbeat: '2s',
  agentResync: '5s',
};

export interface ExitRecord {
  process: string;
  at: number;
  code: number | null;
  signal: string | null;
}

/**
 * A child process the nemesis may kill. An exit it did not cause is recorded (and the process
 * restarted after a second, as a supervisor would), so a crash is a finding, not a hang.
 */
export class ChaosProcess {
  child: ChildProcess | null = null;
  #expectingExit = false;
  #log: WriteStream;
  #stopped = false;
  #lineListeners: ((line: string) => void)[] = [];
  readonly unexpectedExits: ExitRecord[];

  constructor(
    readonly name: string,
    private readonly command: () => { args: string[]; env: NodeJS.ProcessEnv },
    logFile: string,
    unexpectedExits: ExitRecord[],
  ) {
    this.#log = createWriteStream(logFile, { flags: 'a' });
    this.unexpectedExits = unexpectedExits;
  }

  get pid(): number | null {
    return this.child?.pid ?? null;
  }

  onLine(listener: (line: string) => void) {
    this.#lineListeners.push(listener);
  }

  start() {
    if (this.child && this.child.exitCode === null && this.child.signalCode === null) return;
    const { args, env } = this.command();
    const child = spawn(process.execPath, ['--import', 'tsx', ...args], { cwd: repoRoot, env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    this.child = child;
    this.#expectingExit = false;
    this.#log.write(`--- ${new Date().toISOString()} start pid ${child.pid}\n`);
    let buffer = '';
    child.stdout!.setEncoding('utf8').on('data', (chunk: string) => {
      this.#log.write(chunk);
      buffer += chunk;
      for (let newline = buffer.indexOf('\n'); newline >= 0; newline = buffer.indexOf('\n')) {
        const line = buffer.slice(0, newline);
        buffer = buffer.slice(newline + 1);
        for (const listener of this.#lineListeners) listener(line);
      }
    });
    child.stderr!.setEncoding('utf8').on('data', (chunk: string) => this.#log.write(chunk));
    child.once('exit', (code, signal) => {
      this.#log.write(`--- ${new Date().toISOString()} exit code ${code} signal ${signal}\n`);
      if (this.child === child) this.child = null;
      if (this.#expectingExit || this.#stopped) return;
      this.unexpectedExits.push({ process: this.name, at: Date.now(), code, signal });
      setTimeout(() => {
        if (!this.#stopped && this.child === null) this.start();
      }, 1000);
    });
  }

  async #signalAndWait(signal: NodeJS.Signals, timeoutMs = 15_000) {
    const child = this.child;
    if (!child || child.exitCode !== null || child.signalCode !== null) return;
    this.#expectingExit = true;
    const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
    child.kill(signal);
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    await exited;
    clearTimeout(timer);
  }

  /** kill -9, as a crash or the OOM killer would. */
  kill9() {
    return this.#signalAndWait('SIGKILL');
  }

  pause() {
    this.child?.kill('SIGSTOP');
  }

  resume() {
    this.child?.kill('SIGCONT');
  }

  async stop() {
    this.#stopped = true;
    this.resume();
    await this.#signalAndWait('SIGTERM');
    await new Promise<void>((resolve) => this.#log.end(() => resolve()));
  }
}

export class ServerProcess extends ChaosProcess {
  constructor(
    readonly index: number,
    readonly port: number,
    databaseUrl: string,
    logDir: string,
    exits: ExitRecord[],
  ) {
    super(
      `server-${index}`,
      () => ({
        args: ['server/main.ts'],
        env: {
          DATABASE_URL: databaseUrl,
          PORT: String(port),
          PASSTHRU_ADMIN_PASSWORD: ADMIN.password,
          PASSTHRU_ADMIN_USERNAME: ADMIN.username,
          LOG_LEVEL: 'warn',
          PASSTHRU_OPERATION_TIMEOUT: `${TIMEOUTS.operationSeconds}s`,
          PASSTHRU_OPERATION_QUEUE_TIMEOUT: `${TIMEOUTS.queueSeconds}s`,
          PASSTHRU_HEARTBEAT_TIMEOUT: `${TIMEOUTS.heartbeatSeconds}s`,
          PASSTHRU_AGENT_DISCONNECT_GRACE: `${TIMEOUTS.disconnectGraceSeconds}s`,
          PASSTHRU_MAX_QUEUED_OPERATIONS_PER_HOST: String(TIMEOUTS.maxQueuedPerHost),
        },
      }),
      join(logDir, `server-${index}.log`),
      exits,
    );
  }

  get url() {
    return `http://127.0.0.1:${this.port}`;
  }

  /** Resolves once the process answers GraphQL (it may still find its database gone). */
  async ready(timeoutMs = 60_000): Promise<boolean> {
    const ok = await poll(async () => {
      const answer = await graphql(this.url, {}, '{ __typename }', {}, 2000);
      return answer.status === 200 && !answer.errors;
    }, timeoutMs, 200);
    return ok === true;
  }
}

export interface HostInfo {
  name: string;
  /** Global ID. */
  id: string;
  token: string;
  stateFile: string;
  configFile: string;
}

export class AgentProcess extends ChaosProcess {
  /** When the agent last logged a successful inventory report. */
  lastInventoryAt = 0;

  constructor(
    readonly host: HostInfo,
    readonly server: ServerProcess,
    /** The agent reaches its server through this proxy, so the nemesis can cut its connections. */
    readonly proxy: TcpProxy,
    logDir: string,
    exits: ExitRecord[],
  ) {
    super(
      `agent-${host.name}`,
      () => ({
        args: [
          'agent/main.ts', '--backend', 'sim', '--server', proxy.url, '--sim-config', host.configFile,
          '--heartbeat', TIMEOUTS.agentHeartbeat, '--resync', TIMEOUTS.agentResync, '--log-level', 'info',
        ],
        env: { PASSTHRU_TOKEN: host.token },
      }),
      join(logDir, `agent-${host.name}.log`),
      exits,
    );
    this.onLine((line) => {
      if (line.includes('"inventory reported"')) this.lastInventoryAt = Date.now();
    });
  }
}

export interface ClusterOptions {
  agents: number;
  clients: number;
  seed: number;
  /** Where logs, state files and results go. */
  dir: string;
  log: (message: string) => void;
}

/** A simulated GPU host: two GPUs pooled from boot, two on the host driver, USB and NVMe. */
function simConfig(name: string, stateFile: string, seed: number): SimHostConfig {
  return {
    name,
    cpuCores: 64,
    memoryMb: 256 * 1024,
    numaNodes: 2,
    gpus: [{ model: 'rtx-3090', count: 2, pooled: true }, { model: 'rtx-3090', count: 2 }],
    usb: [{ model: 'logitech-unifying' }],
    nvme: [{ model: 'samsung-pm9a3' }],
    latencyMs: { detach: 150, attach: 150, assignDevice: 100, releaseDevice: 100, provisionVm: 400, teardownVm: 250, startVm: 200, stopVm: 200, inventory: 10, vms: 10 },
    seed,
    stateFile,
  };
}

export class Cluster {
  readonly exits: ExitRecord[] = [];
  servers: ServerProcess[] = [];
  agents: AgentProcess[] = [];
  hosts: HostInfo[] = [];
  adminToken = '';
  /** One OPERATOR token per client, and the actor name operations record for it. */
  clientTokens: { token: string; actor: string }[] = [];
  clusterId = '';
  planId = '';

  private constructor(
    readonly database: PostgresInstance,
    readonly options: ClusterOptions,
  ) {}

  static async create(options: ClusterOptions): Promise<Cluster> {
    mkdirSync(join(options.dir, 'logs'), { recursive: true });
    mkdirSync(join(options.dir, 'hosts'), { recursive: true });
    options.log('starting PostgreSQL (initdb in a temporary folder)');
    const database = await PostgresInstance.create({ logFile: join(options.dir, 'logs', 'postgres.log') });
    const cluster = new Cluster(database, options);
    try {
      await cluster.#startServers();
      await cluster.#setUp();
    } catch (error) {
      await cluster.destroy();
      throw error;
    }
    return cluster;
  }

  async #startServers() {
    for (const index of [0, 1]) {
      const server = new ServerProcess(index, await freePort(), this.database.url, join(this.options.dir, 'logs'), this.exits);
      this.servers.push(server);
      // One at a time: the first creates the schema and the admin.
      server.start();
      if (!(await server.ready())) throw new Error(`server ${index} did not start; see ${join(this.options.dir, 'logs', `server-${index}.log`)}`);
    }
    this.options.log(`servers on ports ${this.servers.map((s) => s.port).join(', ')}; PostgreSQL on ${this.database.port}`);
  }

  /** Setup calls, as the admin, to the first server. */
  #admin: Send = async (document, variables) => {
    const answer = await graphql(this.servers[0]!.url, { token: this.adminToken }, print(document), variables);
    if (answer.errors || !answer.data) throw new Error(`setup failed: ${JSON.stringify(answer.errors ?? answer.transportError)}`);
    return answer.data;
  };

  async #setUp() {
    const url = this.servers[0]!.url;
    const signIn = await graphql(url, {}, 'mutation($input: SignInInput!) { signIn(input: $input) { __typename ... on Error { message } } }', { input: ADMIN });
    const cookie = signIn.setCookie?.split(';')[0];
    if (!cookie) throw new Error(`sign-in failed: ${JSON.stringify(signIn.data ?? signIn.errors)}`);
    const mint = async (name: string, role: 'ADMIN' | 'OPERATOR') => {
      const answer = await graphql(url, { cookie }, 'mutation($input: CreateApiTokenInput!) { createApiToken(input: $input) { __typename ... on CreateApiTokenSuccess { token } ... on Error { message } } }', { input: { name, role } });
      const token = answer.data?.createApiToken?.token;
      if (!token) throw new Error(`createApiToken failed: ${JSON.stringify(answer)}`);
      return token as string;
    };
    this.adminToken = await mint('chaos-admin', 'ADMIN');
    for (let i = 0; i < this.options.clients; i++) {
      const name = `chaos-client-${i}`;
      this.clientTokens.push({ token: await mint(name, 'OPERATOR'), actor: `token:${ADMIN.username}/${name}` });
    }

    this.clusterId = (await createCluster(this.#admin, 'chaos')).id;
    this.planId = (await createServicePlan(this.#admin, { name: 'chaos-gpu', provisionType: 'KVM', cores: 2, memoryMb: 2048, diskGb: 10, gpuCount: 1 })).id;

    for (let i = 0; i < this.options.agents; i++) {
      const name = `chaos-host-${i}`;
      const enrolled = await enrollHost(this.#admin, this.clusterId, name);
      const stateFile = join(this.options.dir, 'hosts', `${name}.state.json`);
      const configFile = join(this.options.dir, 'hosts', `${name}.config.json`);
      writeFileSync(configFile, JSON.stringify(simConfig(name, stateFile, this.options.seed + i), null, 2));
      this.hosts.push({ name, id: enrolled.id, token: enrolled.token, stateFile, configFile });
    }
  }

  /** Starts the agents, each on one of the two servers in turn, and waits for their first inventory. */
  async startAgents() {
    this.agents = [];
    for (const [i, host] of this.hosts.entries()) {
      const server = this.servers[i % this.servers.length]!;
      this.agents.push(new AgentProcess(host, server, await TcpProxy.start(server.port), join(this.options.dir, 'logs'), this.exits));
    }
    for (const agent of this.agents) agent.start();
    const ok = await poll(async () => this.agents.every((agent) => agent.lastInventoryAt > 0), 60_000, 200);
    if (!ok) throw new Error('agents did not report their inventory within 60 s');
    // The state file is written at the first change only: a host that never changed has none.
    this.options.log(`${this.agents.length} agents reported their inventory`);
  }

  async destroy() {
    await Promise.all([...this.agents, ...this.servers].map((p) => p.stop().catch(() => undefined)));
    await Promise.all(this.agents.map((agent) => agent.proxy.close().catch(() => undefined)));
    await this.database.destroy().catch(() => undefined);
  }
}
