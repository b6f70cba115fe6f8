import { api } from './client.ts';
import { graphql } from './graphql.ts';

/** What changed, reduced to what a page needs to decide whether to refetch. */
export type LiveEvent =
  | { topic: 'device'; id: string; status: string; hostId: string; vmId: string | null }
  | { topic: 'host'; id: string; status: string; hostId: string; vmId: null }
  | { topic: 'operation'; id: string; status: string; hostId: string; vmId: string | null; type: string; error: string | null; deviceIds: string[] }
  | { topic: 'vm'; id: string; status: string; hostId: string; vmId: string }
  | { topic: 'plan'; id: string; status: 'CHANGED'; hostId: null; vmId: null };

export type Topic = LiveEvent['topic'];

const DeviceEvents = graphql(`
  subscription DeviceEvents {
    deviceChanged { id status host { id } vm { id } }
  }
`);
const HostEvents = graphql(`
  subscription HostEvents {
    hostChanged { id status }
  }
`);
const OperationEvents = graphql(`
  subscription OperationEvents {
    operationChanged { id type status error host { id } vm { id } devices { id } }
  }
`);
const VmEvents = graphql(`
  subscription VmEvents {
    vmChanged { id status host { id } }
  }
`);

const PlanEvents = graphql(`
  subscription PlanEvents {
    servicePlanChanged { planId }
  }
`);

type Listener = (event: LiveEvent) => void;

/**
 * The console's five unfiltered subscriptions, fanned out to whatever is on screen. One set of
 * subscriptions per tab instead of one per widget keeps the server's fan-out small; each live
 * query decides from the event whether it cares.
 */
class LiveEvents {
  #listeners = new Set<Listener>();
  #subscriptions: { unsubscribe(): void }[] = [];

  /** Subscribes, once per signed-in session (the shell starts it and stops it). */
  start() {
    if (this.#subscriptions.length) return;
    const { client } = api();
    this.#subscriptions.push(client.subscription(DeviceEvents, {}).subscribe(({ data }) => {
      const d = data?.deviceChanged;
      if (d) this.#emit({ topic: 'device', id: d.id, status: d.status, hostId: d.host.id, vmId: d.vm?.id ?? null });
    }));
    this.#subscriptions.push(client.subscription(HostEvents, {}).subscribe(({ data }) => {
      const h = data?.hostChanged;
      if (h) this.#emit({ topic: 'host', id: h.id, status: h.status, hostId: h.id, vmId: null });
    }));
    this.#subscriptions.push(client.subscription(OperationEvents, {}).subscribe(({ data }) => {
      const o = data?.operationChanged;
      if (o) {
        this.#emit({ topic: 'operation', id: o.id, status: o.status, hostId: o.host.id, vmId: o.vm?.id ?? null, type: o.type, error: o.error, deviceIds: o.devices.map((d) => d.id) });
      }
    }));
    this.#subscriptions.push(client.subscription(VmEvents, {}).subscribe(({ data }) => {
      const v = data?.vmChanged;
      if (v) this.#emit({ topic: 'vm', id: v.id, status: v.status, hostId: v.host.id, vmId: v.id });
    }));
    this.#subscriptions.push(client.subscription(PlanEvents, {}).subscribe(({ data }) => {
      const p = data?.servicePlanChanged;
      if (p) this.#emit({ topic: 'plan', id: p.planId, status: 'CHANGED', hostId: null, vmId: null });
    }));
  }

  stop() {
    for (const subscription of this.#subscriptions.splice(0)) subscription.unsubscribe();
  }

  /** Calls `listener` for every change; returns the unsubscribe function. */
  on(listener: Listener): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  /**
   * Calls `onFailed` if the operation `operationId` fails (the agent refused or it timed out);
   * stops watching once it ends either way. Returns the function that stops watching early.
   */
  watchOperation(operationId: string, onFailed: (error: string) => void): () => void {
    const off = this.on((event) => {
      if (event.topic !== 'operation' || event.id !== operationId) return;
      if (event.status === 'FAILED') onFailed(event.error ?? 'the operation failed without a reason');
      if (event.status === 'FAILED' || event.status === 'SUCCEEDED') off();
    });
    return off;
  }

  #emit(event: LiveEvent) {
    for (const listener of this.#listeners) listener(event);
  }
}

export const live = new LiveEvents();
