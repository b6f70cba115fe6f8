// The nemesis: every few seconds one fault (kill -9 of a server, an agent or PostgreSQL; an agent
// paused past the heartbeat timeout; an agent's connections cut), healed before the next one starts. Kinds are first
// taken in a shuffled round, so even a short run injects every kind at least once.

import { TIMEOUTS, type Cluster } from './cluster.ts';
import { Random, sleep } from './util.ts';

export const FAULT_KINDS = ['kill-server', 'kill-agent', 'kill-postgres', 'pause-agent', 'cut-agent'] as const;
export type FaultKind = (typeof FAULT_KINDS)[number];

export interface Fault {
  kind: FaultKind;
  target: string;
  at: number;
  healedAt: number | null;
  /** How long the target was down or paused, ms. */
  downMs: number;
  note?: string;
}

export class Nemesis {
  readonly faults: Fault[] = [];
  #running = false;
  #loop: Promise<void> | null = null;

  constructor(
    private readonly cluster: Cluster,
    private readonly random: Random,
    private readonly log: (message: string) => void,
    /** Pause between a heal and the next fault, ms. */
    private readonly gapMs: [number, number] = [2000, 4000],
  ) {}

  start() {
    this.#running = true;
    this.#loop = this.#run();
  }

  /** Stops after healing the fault in progress, if any. */
  async stop() {
    this.#running = false;
    await this.#loop;
  }

  async #run() {
    let round: FaultKind[] = [];
    await sleep(this.random.int(...this.gapMs));
    while (this.#running) {
      if (!round.length) round = this.random.shuffle(FAULT_KINDS);
      await this.inject(round.shift()!);
      await this.#sleepWhileRunning(this.random.int(...this.gapMs));
    }
  }

  async #sleepWhileRunning(ms: number) {
    const until = Date.now() + ms;
    while (this.#running && Date.now() < until) await sleep(Math.min(200, until - Date.now()));
  }

  /** One fault, healed before it returns. */
  async inject(kind: FaultKind): Promise<Fault> {
    const down = this.random.int(1000, 3000);
    let fault: Fault;
    switch (kind) {
      case 'kill-server': {
        const server = this.random.pick(this.cluster.servers)!;
        fault = { kind, target: server.name, at: Date.now(), healedAt: null, downMs: down };
        this.faults.push(fault);
        this.log(`nemesis: kill -9 ${server.name} (pid ${server.pid}) for ${down} ms`);
        await server.kill9();
        await sleep(down);
        server.start();
        if (!(await server.ready())) fault.note = 'did not answer within 60 s of its restart';
        break;
      }
      case 'kill-agent': {
        const agent = this.random.pick(this.cluster.agents)!;
        fault = { kind, target: agent.name, at: Date.now(), healedAt: null, downMs: down };
        this.faults.push(fault);
        this.log(`nemesis: kill -9 ${agent.name} (pid ${agent.pid}) for ${down} ms`);
        await agent.kill9();
        await sleep(down);
        agent.start();
        break;
      }
      case 'kill-postgres': {
        fault = { kind, target: 'postgres', at: Date.now(), healedAt: null, downMs: down };
        this.faults.push(fault);
        this.log(`nemesis: kill -9 PostgreSQL for ${down} ms`);
        await this.cluster.database.kill();
        await sleep(down);
        await this.cluster.database.start();
        break;
      }
      case 'cut-agent': {
        // Every connection between the agent and its server dropped, new ones refused meanwhile.
        const agent = this.random.pick(this.cluster.agents)!;
        fault = { kind, target: agent.name, at: Date.now(), healedAt: null, downMs: down };
        this.faults.push(fault);
        this.log(`nemesis: cut ${agent.name}'s connections for ${down} ms`);
        agent.proxy.cut();
        await sleep(down);
        agent.proxy.restore();
        break;
      }
      case 'pause-agent': {
        const agent = this.random.pick(this.cluster.agents)!;
        // Past the heartbeat timeout, so the server must mark the host OFFLINE meanwhile.
        const paused = TIMEOUTS.heartbeatSeconds * 1000 + this.random.int(1000, 3000);
        fault = { kind, target: agent.name, at: Date.now(), healedAt: null, downMs: paused };
        this.faults.push(fault);
        this.log(`nemesis: SIGSTOP ${agent.name} (pid ${agent.pid}) for ${paused} ms`);
        agent.pause();
        await sleep(paused);
        agent.resume();
        break;
      }
    }
    fault.healedAt = Date.now();
    return fault;
  }

  counts(): Record<FaultKind, number> {
    const counts = Object.fromEntries(FAULT_KINDS.map((kind) => [kind, 0])) as Record<FaultKind, number>;
    for (const fault of this.faults) counts[fault.kind]++;
    return counts;
  }
}

