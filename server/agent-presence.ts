import type { HeartbeatBatcher } from './domain/heartbeats.ts';

export interface AgentPresenceOptions {
  heartbeats: HeartbeatBatcher;
  /** How long a host stays ONLINE after its agent's last connection to this process closes. */
  graceMs: number;
  /** Marks the host OFFLINE unless its agent was heard of after `closedAt`; resolves whether it did. */
  markOffline: (hostId: string, closedAt: Date) => Promise<boolean>;
  onOffline?: (hostId: string) => void;
  onError?: (error: unknown) => void;
}

/**
 * Which hosts' agents hold a connection to this process. A host whose last connection closes
 * goes OFFLINE after a short grace instead of after the heartbeat timeout, so commands are
 * refused at once rather than accepted and failed a minute later. An agent that reconnects
 * within the grace, to this process or another (its connection counts as a heartbeat there),
 * keeps its host ONLINE.
 */
export class AgentPresence {
  readonly #options: AgentPresenceOptions;
  readonly #connections = new Map<string, number>();
  readonly #pending = new Map<string, NodeJS.Timeout>();

  constructor(options: AgentPresenceOptions) {
    this.#options = options;
  }

  /** Hosts with at least one agent socket open to this process. */
  get connectedHosts(): number {
    return this.#connections.size;
  }

  connected(hostId: string) {
    this.#connections.set(hostId, (this.#connections.get(hostId) ?? 0) + 1);
    clearTimeout(this.#pending.get(hostId));
    this.#pending.delete(hostId);
    // Written with the next flush: a process the agent left sees it was heard of since.
    this.#options.heartbeats.record(hostId);
  }

  disconnected(hostId: string) {
    const left = (this.#connections.get(hostId) ?? 1) - 1;
    if (left > 0) {
      this.#connections.set(hostId, left);
      return;
    }
    this.#connections.delete(hostId);
    const closedAt = new Date();
    clearTimeout(this.#pending.get(hostId));
    this.#pending.set(
      hostId,
      setTimeout(() => {
        this.#pending.delete(hostId);
        this.#options
          .markOffline(hostId, closedAt)
          .then((offline) => offline && this.#options.onOffline?.(hostId))
          .catch((error) => this.#options.onError?.(error));
      }, this.#options.graceMs),
    );
  }

  stop() {
    for (const timer of this.#pending.values()) clearTimeout(timer);
    this.#pending.clear();
  }
}
