import { Operations } from '../../protocol/commands.ts';
import type { CommandContext, CommandSpec } from '../command.ts';
import { UsageError } from '../exit-codes.ts';
import { limitOf, OPERATION_STATUSES, oneOf } from '../options.ts';
import { ago, cell, json, table } from '../output.ts';
import { collectPages } from '../pages.ts';
import { deviceId, hostId, vmId } from '../resolve.ts';

async function listOperations(context: CommandContext): Promise<void> {
  if (context.args.positionals.length > 0) throw new UsageError('passthru ops takes no arguments; narrow it with --host, --vm, --device, --status');
  const api = context.api();
  const { host, vm, device } = context.args.strings;
  const filter = {
    ...(host ? { hostId: await hostId(api, host) } : {}),
    ...(vm ? { vmId: await vmId(api, vm) } : {}),
    ...(device ? { deviceId: await deviceId(api, device) } : {}),
    ...(context.args.lists.status ? { status: context.args.lists.status.map((s) => oneOf('status', OPERATION_STATUSES, s)) } : {}),
  };
  // Each operation carries its devices: 100 a page keeps a page under the server's query cost limit.
  const { items, more } = await collectPages(limitOf(context.args), async (first, after) => (await api.request(Operations, { first, after, filter })).operations, 100);
  if (context.json) {
    context.print(json(items));
    return;
  }
  const rows = items.map((o) => [
    o.id,
    o.type,
    o.status,
    o.host.name,
    cell(o.vm?.name),
    cell(o.devices.nodes.map((d) => d.address).join(',')),
    o.actor,
    ago(o.createdAt),
    o.durationMs === null ? '-' : `${o.durationMs}ms`,
    cell(o.error),
  ]);
  context.print(table(['ID', 'TYPE', 'STATUS', 'HOST', 'VM', 'DEVICES', 'ACTOR', 'QUEUED', 'TOOK', 'ERROR'], rows));
  if (more) context.note('more operations follow; raise --limit or narrow with --host, --vm, --device, --status');
}

export const operationCommands: CommandSpec[] = [
  { name: 'ops', usage: '', summary: 'List operations (the agents’ work queue and audit trail), newest first.', options: ['host', 'vm', 'device', 'status', 'limit'], choices: { status: OPERATION_STATUSES }, run: listOperations },
];
