import { api } from './client.ts';
import { graphql, type ResultOf } from '../../../../protocol/graphql.ts';
import { DeviceEvents } from '../devices/device-events.ts';
import { HostEvents } from '../hosts/host-events.ts';
import { VmEvents } from '../vms/vm-events.ts';
import { OperationEvents } from '../operations/operation-events.ts';
import { PlanEvents } from '../plans/plan-events.ts';

const ChangeCursor = graphql(`
  query ChangeCursor {
    changeCursor
  }
`);

type OperationChange = ResultOf<typeof OperationEvents>['operationChanged']['operation'];
type Listener = (operation: OperationChange) => void;

/**
 * The console's five unfiltered subscriptions. Their events go into the normalized cache (the
 * updaters in each domain's *-events.ts), which updates whatever is on screen; one set per tab
 * instead of one per widget keeps the server's fan-out small. They start from the head of the
 * change log, read when they start, so a link lost before the first event still resumes.
 */
class LiveEvents {
  #listeners = new Set<Listener>();
  #subscriptions: { unsubscribe(): void }[] = [];
  #running = false;
  /** Goes up on every start and stop, so a start that a stop overtook does not subscribe. */
  #generation = 0;

  /** Subscribes, once per signed-in session (the shell starts it and stops it). */
  async start() {
    if (this.#running) return;
    this.#running = true;
    const generation = ++this.#generation;
    const { client } = api();
    const head = await client.query(ChangeCursor, {}, { requestPolicy: 'network-only' }).toPromise();
    if (generation !== this.#generation) return;
    // Without the head (the server was unreachable) they follow from whenever they connect.
    const from = { after: head.data?.changeCursor ?? null };
    this.#subscriptions.push(
      client.subscription(DeviceEvents, from).subscribe(() => {}),
      client.subscription(HostEvents, from).subscribe(() => {}),
      client.subscription(VmEvents, from).subscribe(() => {}),
      client.subscription(PlanEvents, from).subscribe(() => {}),
      client.subscription(OperationEvents, from).subscribe(({ data }) => {
        const operation = data?.operationChanged.operation;
        if (operation) for (const listener of this.#listeners) listener(operation);
      }),
    );
  }

  stop() {
    this.#running = false;
    this.#generation += 1;
    for (const subscription of this.#subscriptions.splice(0)) subscription.unsubscribe();
  }

  /**
   * Calls `onFailed` if the operation `operationId` fails (the agent refused or it timed out);
   * stops watching once it ends either way. Returns the function that stops watching early.
   */
  watchOperation(operationId: string, onFailed: (error: string) => void): () => void {
    const listener: Listener = (operation) => {
      if (operation.id !== operationId) return;
      if (operation.status === 'FAILED') onFailed(operation.error ?? 'the operation failed without a reason');
      if (operation.status === 'FAILED' || operation.status === 'SUCCEEDED') this.#listeners.delete(listener);
    };
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }
}

export const live = new LiveEvents();
