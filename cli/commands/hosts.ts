import { Hosts } from '../../protocol/commands.ts';
import type { CommandContext, CommandSpec } from '../command.ts';
import { UsageError } from '../exit-codes.ts';
import { HOST_STATUSES, limitOf, oneOf } from '../options.ts';
import { ago, cell, json, mebibytes, table } from '../output.ts';
import { collectPages } from '../pages.ts';
import { clusterId } from '../resolve.ts';

async function listHosts(context: CommandContext): Promise<void> {
  if (context.args.positionals.length > 0) throw new UsageError('passthru hosts takes no arguments; narrow it with --cluster or --status');
  const api = context.api();
  const statuses = context.args.lists.status ?? [];
  if (statuses.length > 1) throw new UsageError('passthru hosts takes one --status: ONLINE or OFFLINE');
  const variables = {
    ...(context.args.strings.cluster ? { clusterId: await clusterId(api, context.args.strings.cluster) } : {}),
    ...(statuses[0] ? { status: oneOf('status', HOST_STATUSES, statuses[0]) } : {}),
  };
  const { items, more } = await collectPages(limitOf(context.args), async (first, after) => (await api.request(Hosts, { first, after, ...variables })).hosts);
  if (context.json) {
    context.print(json(items));
    return;
  }
  const poolOf = (host: (typeof items)[number]) => host.pool.map((p) => `${p.kind} ${p.free}/${p.total} free`).join(', ');
  const rows = items.map((h) => [h.id, h.name, h.cluster.name, h.status, cell(h.cpuCores), mebibytes(h.memoryMb), String(h.vmCount), ago(h.lastSeenAt), cell(poolOf(h))]);
  context.print(table(['ID', 'NAME', 'CLUSTER', 'STATUS', 'CPUS', 'MEMORY', 'VMS', 'SEEN', 'DEVICES'], rows));
  if (more) context.note('more hosts follow; raise --limit or narrow with --cluster, --status');
}

export const hostCommands: CommandSpec[] = [
  { name: 'hosts', usage: '', summary: 'List hypervisor hosts, their status and free devices.', options: ['cluster', 'status', 'limit'], choices: { status: HOST_STATUSES }, run: listHosts },
];
