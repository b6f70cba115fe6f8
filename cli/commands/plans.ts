import { ServicePlans } from '../../protocol/commands.ts';
import type { CommandContext, CommandSpec } from '../command.ts';
import { UsageError } from '../exit-codes.ts';
import { cell, json, mebibytes, table } from '../output.ts';

async function listPlans(context: CommandContext): Promise<void> {
  if (context.args.positionals.length > 0) throw new UsageError('passthru plans takes no arguments');
  const { servicePlans } = await context.api().request(ServicePlans);
  if (context.json) {
    context.print(json(servicePlans));
    return;
  }
  const gpuModel = (p: (typeof servicePlans)[number]) => (p.gpuVendorId ? `${p.gpuVendorId}:${p.gpuProductId ?? '*'}` : p.gpuCount > 0 ? 'any' : null);
  const rows = servicePlans.map((p) => [p.id, p.name, p.provisionType, String(p.cores), mebibytes(p.memoryMb), `${p.diskGb}G`, String(p.gpuCount), cell(gpuModel(p)), String(p.vmCount)]);
  context.print(table(['ID', 'NAME', 'TYPE', 'CORES', 'MEMORY', 'DISK', 'GPUS', 'GPU MODEL', 'VMS'], rows));
}

export const planCommands: CommandSpec[] = [{ name: 'plans', usage: '', summary: 'List service plans (the sizes VMs are provisioned with).', options: [], run: listPlans }];
