import { AssignDevice, AttachDevice, DetachDevice, Devices, ReleaseDevice } from '../../protocol/commands.ts';
import type { CommandContext, CommandSpec } from '../command.ts';
import { successOf, UsageError } from '../exit-codes.ts';
import { DEVICE_KINDS, DEVICE_STATUSES, limitOf, oneOf } from '../options.ts';
import { cell, json, table } from '../output.ts';
import { collectPages } from '../pages.ts';
import { deviceId, hostId, vmId } from '../resolve.ts';
import { queueAndFollow } from '../wait.ts';

/** The one positional a device command takes. */
function deviceArgument(context: CommandContext, command: string): string {
  const [device, ...rest] = context.args.positionals;
  if (!device || rest.length > 0) throw new UsageError(`passthru ${command} takes one device: its ID or HOST/ADDRESS (gpu-01/0000:41:00.0)`);
  return device;
}

async function listDevices(context: CommandContext): Promise<void> {
  if (context.args.positionals.length > 0) throw new UsageError('passthru devices takes no arguments; narrow it with --host, --kind, --status');
  const api = context.api();
  const { host, kind } = context.args.strings;
  const filter = {
    ...(host ? { hostId: await hostId(api, host) } : {}),
    ...(kind ? { kind: oneOf('kind', DEVICE_KINDS, kind) } : {}),
    ...(context.args.lists.status ? { status: context.args.lists.status.map((s) => oneOf('status', DEVICE_STATUSES, s)) } : {}),
  };
  const { items, more } = await collectPages(limitOf(context.args), async (first, after) => (await api.request(Devices, { first, after, filter })).devices);
  if (context.json) {
    context.print(json(items));
    return;
  }
  const rows = items.map((d) => [d.id, d.host.name, d.address, d.kind, d.status, cell(d.vm?.name), cell(d.driver), cell(d.iommuGroup), cell(d.numaNode), d.name]);
  context.print(table(['ID', 'HOST', 'ADDRESS', 'KIND', 'STATUS', 'VM', 'DRIVER', 'IOMMU', 'NUMA', 'NAME'], rows));
  if (more) context.note(`more devices follow; raise --limit or narrow with --host, --kind, --status`);
}

export const deviceCommands: CommandSpec[] = [
  {
    name: 'devices',
    usage: '',
    summary: 'List devices, by host and address.',
    options: ['host', 'kind', 'status', 'limit'],
    choices: { status: DEVICE_STATUSES },
    run: listDevices,
  },
  {
    name: 'detach',
    usage: '<device>',
    summary: 'Take a device (and its IOMMU group) from the host OS into the pool.',
    options: ['no-wait'],
    run: (context) =>
      queueAndFollow(context, async (api) => {
        const { detachDevice } = await api.request(DetachDevice, { deviceId: await deviceId(api, deviceArgument(context, 'detach')) });
        return successOf(detachDevice, 'DeviceOperationSuccess').operation;
      }),
  },
  {
    name: 'attach',
    usage: '<device>',
    summary: 'Give a pooled device (and its IOMMU group) back to its host driver.',
    options: ['no-wait'],
    run: (context) =>
      queueAndFollow(context, async (api) => {
        const { attachDevice } = await api.request(AttachDevice, { deviceId: await deviceId(api, deviceArgument(context, 'attach')) });
        return successOf(attachDevice, 'DeviceOperationSuccess').operation;
      }),
  },
  {
    name: 'assign',
    usage: '<device> --vm VM',
    summary: 'Pass a pooled device through to a VM on its host.',
    options: ['vm', 'with-group', 'no-wait'],
    run: (context) =>
      queueAndFollow(context, async (api) => {
        const vm = context.args.strings.vm;
        if (!vm) throw new UsageError('passthru assign needs --vm VM (name or ID)');
        const device = await deviceId(api, deviceArgument(context, 'assign'));
        const { assignDevice } = await api.request(AssignDevice, { deviceId: device, vmId: await vmId(api, vm), withGroup: context.args.flags['with-group'] === true });
        return successOf(assignDevice, 'DeviceOperationSuccess').operation;
      }),
  },
  {
    name: 'release',
    usage: '<device>',
    summary: 'Take an assigned device back from its VM into the pool.',
    options: ['no-wait'],
    run: (context) =>
      queueAndFollow(context, async (api) => {
        const { releaseDevice } = await api.request(ReleaseDevice, { deviceId: await deviceId(api, deviceArgument(context, 'release')) });
        return successOf(releaseDevice, 'DeviceOperationSuccess').operation;
      }),
  },
];
