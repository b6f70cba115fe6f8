import { ChangeCursor, OperationChanged, type OperationFields } from '../protocol/commands.ts';
import type { ResultOf } from '../protocol/graphql.ts';
import type { Api } from './api.ts';
import type { CommandContext } from './command.ts';
import { CliError, EXIT } from './exit-codes.ts';
import { cell, json, table } from './output.ts';

export type OperationView = ResultOf<typeof OperationFields>;

const finished = (operation: OperationView) => operation.status === 'SUCCEEDED' || operation.status === 'FAILED';

/**
 * Runs a command that queues an operation and, unless --no-wait, follows it to its end. The
 * change cursor is read before the mutation, so the subscription replays anything that happened
 * between the two (list, then watch): an operation that ends at once is not missed.
 */
export async function queueAndFollow(context: CommandContext, queue: (api: Api) => Promise<OperationView>): Promise<void> {
  const api = context.api();
  const wait = !context.args.flags['no-wait'];
  const { changeCursor } = wait ? await api.request(ChangeCursor) : { changeCursor: null };
  const queued = await queue(api);
  if (!wait) {
    report(context, queued);
    return;
  }
  if (!context.json) context.note(`${queued.type} queued on ${queued.host.name} as operation ${queued.id}; waiting for its agent (Ctrl-C stops waiting, not the operation)`);
  const done = finished(queued) ? queued : await follow(api, queued, changeCursor);
  report(context, done);
  if (done.status === 'FAILED') throw new CliError(`${done.type} failed on ${done.host.name}: ${done.error ?? 'no reason given'}`, EXIT.operationFailed);
}

async function follow(api: Api, operation: OperationView, after: string | null): Promise<OperationView> {
  let resolveDone: (value: OperationView) => void = () => {};
  const done = new Promise<OperationView>((resolve) => (resolveDone = resolve));
  const subscription = api.subscribe(OperationChanged, { hostId: operation.host.id, after }, ({ operationChanged }) => {
    if (operationChanged.operation.id === operation.id && finished(operationChanged.operation)) resolveDone(operationChanged.operation);
  });
  const ended = subscription.ended.then(() => {
    throw new CliError(`the server ended the stream before operation ${operation.id} finished; see passthru ops`, EXIT.failed);
  });
  try {
    return await Promise.race([done, ended]);
  } finally {
    await subscription.stop();
  }
}

function report(context: CommandContext, operation: OperationView): void {
  if (context.json) {
    context.print(json({ operation }));
    return;
  }
  const rows = operation.devices.nodes.map((d) => [d.address, d.kind, d.status]);
  const summary = `${operation.type} ${operation.status.toLowerCase()} on ${operation.host.name}${operation.vm ? ` (VM ${operation.vm.name})` : ''}${operation.durationMs === null ? '' : ` in ${operation.durationMs} ms`}`;
  context.print([summary, ...(operation.error ? [`error: ${operation.error}`] : []), ...(rows.length ? [table(['ADDRESS', 'KIND', 'STATUS'], rows.map((r) => r.map(cell)))] : [])].join('\n'));
}
