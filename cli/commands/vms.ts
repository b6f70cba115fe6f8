import { DeleteVm, ProvisionVm, Vms } from '../../protocol/commands.ts';
import type { CommandContext, CommandSpec } from '../command.ts';
import { successOf, UsageError } from '../exit-codes.ts';
import { limitOf } from '../options.ts';
import { ago, cell, json, mebibytes, table } from '../output.ts';
import { collectPages } from '../pages.ts';
import { clusterId, hostId, planId, vmId } from '../resolve.ts';
import { queueAndFollow } from '../wait.ts';

async function listVms(context: CommandContext): Promise<void> {
  if (context.args.positionals.length > 0) throw new UsageError('passthru vms takes no arguments; narrow it with --host');
  const api = context.api();
  const variables = {
    ...(context.args.strings.host ? { hostId: await hostId(api, context.args.strings.host) } : {}),
    includeDeleted: context.args.flags.all === true,
  };
  const { items, more } = await collectPages(limitOf(context.args), async (first, after) => (await api.request(Vms, { first, after, ...variables })).vms);
  if (context.json) {
    context.print(json(items));
    return;
  }
  const rows = items.map((v) => [v.id, v.name, v.status, v.host.name, cell(v.plan?.name), String(v.cores), mebibytes(v.memoryMb), `${v.diskGb}G`, ago(v.createdAt)]);
  context.print(table(['ID', 'NAME', 'STATUS', 'HOST', 'PLAN', 'CORES', 'MEMORY', 'DISK', 'CREATED'], rows));
  if (more) context.note('more VMs follow; raise --limit or narrow with --host');
}

function nameArgument(context: CommandContext, command: string, what: string): string {
  const [name, ...rest] = context.args.positionals;
  if (!name || rest.length > 0) throw new UsageError(`passthru ${command} takes one ${what}`);
  return name;
}

export const vmCommands: CommandSpec[] = [
  { name: 'vms', usage: '', summary: 'List VMs, by name.', options: ['host', 'all', 'limit'], run: listVms },
  {
    name: 'provision',
    usage: '<name> --plan PLAN (--cluster CLUSTER | --host HOST)',
    summary: 'Create a VM from a service plan; its GPUs are chosen and reserved at once.',
    options: ['plan', 'cluster', 'host', 'no-wait'],
    run: (context) =>
      queueAndFollow(context, async (api) => {
        const name = nameArgument(context, 'provision', 'VM name');
        const { plan, cluster, host } = context.args.strings;
        if (!plan) throw new UsageError('passthru provision needs --plan PLAN (see passthru plans)');
        if (Boolean(cluster) === Boolean(host)) throw new UsageError('passthru provision needs one of --cluster CLUSTER or --host HOST');
        const input = {
          name,
          planId: await planId(api, plan),
          ...(cluster ? { clusterId: await clusterId(api, cluster) } : {}),
          ...(host ? { hostId: await hostId(api, host) } : {}),
        };
        const { provisionVm } = await api.request(ProvisionVm, { input });
        return successOf(provisionVm, 'VmOperationSuccess').operation;
      }),
  },
  {
    name: 'delete',
    usage: '<vm>',
    summary: 'Tear a VM down; its devices return to the pool.',
    options: ['no-wait'],
    run: (context) =>
      queueAndFollow(context, async (api) => {
        const { deleteVm } = await api.request(DeleteVm, { vmId: await vmId(api, nameArgument(context, 'delete', 'VM (name or ID)')) });
        return successOf(deleteVm, 'VmOperationSuccess').operation;
      }),
  },
];
