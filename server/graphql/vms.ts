import { builder } from './builder.ts';
import { idOf } from './ids.ts';
import { AFTER_DESCRIPTION, CURSOR_DESCRIPTION, changeOf, formatCursor, hostAndVmScope } from './changes.ts';
import type { LiveEvent } from '../live/events.ts';
import { Device } from './devices.ts';
import { Operation } from './operations.ts';
import { VM_NAME_RULE } from '../../protocol/rules.ts';
import type { Scope } from '../domain/placement.ts';
import { deleteVm, provisionVm, startVm, stopVm, type VmRow } from '../domain/vms.ts';
import type { DeviceRow } from '../domain/device-store.ts';
import type { OperationRow } from '../domain/operations.ts';
import {
  HostBusyError,
  HostOfflineError,
  InvalidTransitionError,
  NoCapacityError,
  NotFoundError,
  ValidationError,
  VmBusyError,
} from '../domain/errors.ts';
import { vmStatus } from '../db/schema/enums.ts';

export const VmStatusEnum = builder.enumType('VmStatus', {
  description: 'Lifecycle and power state of a VM, as the agent reports it.',
  values: {
    PROVISIONING: { description: 'Being defined and started with its plan GPUs.' },
    RUNNING: { description: 'Powered on.' },
    STOPPED: { description: 'Powered off; it keeps its devices.' },
    STARTING: { description: 'Being powered on.' },
    STOPPING: { description: 'Being powered off.' },
    DELETING: { description: 'Being torn down; its devices return to the pool.' },
    DELETED: { description: 'Torn down; kept for history.' },
    FAILED: { description: 'Provisioning failed; delete it to clean up.' },
  } satisfies Record<(typeof vmStatus.enumValues)[number], unknown>,
});

export const Vm = builder.drizzleNode('vms', {
  name: 'VM',
  description: 'A virtual machine on one host.',
  id: { column: (v) => v.id },
  // Name and status always: they resolve straight from the row (see Host).
  select: { columns: { name: true, status: true } },
  fields: (t) => ({
    name: t.string({ description: 'Unique among live VMs.', resolve: (v) => v.name }),
    status: t.field({ type: VmStatusEnum, description: 'Lifecycle and power state.', resolve: (v) => v.status }),
    cores: t.exposeInt('cores', { description: 'Virtual CPUs.' }),
    memoryMb: t.exposeInt('memoryMb', { description: 'Memory in MiB.' }),
    diskGb: t.exposeInt('diskGb', { description: 'Disk in GiB.' }),
    createdAt: t.expose('createdAt', { type: 'DateTime', description: 'When it was provisioned.' }),
    deletedAt: t.expose('deletedAt', { type: 'DateTime', nullable: true, description: 'When it was torn down.' }),
    host: t.relation('host', { description: 'The host it runs on.' }),
    plan: t.relation('plan', { nullable: true, description: 'The service plan it was provisioned from.' }),
    devices: t.relatedConnection('devices', { description: 'Devices passed through to it, by address.', query: { orderBy: { address: 'asc' } } }),
  }),
});

builder.queryFields((t) => ({
  vms: t.drizzleConnection({
    type: 'vms',
    description: 'VMs by name; deleted ones only when asked.',
    args: {
      hostId: t.arg.id({ required: false, description: 'Only VMs on this host.' }),
      includeDeleted: t.arg.boolean({ required: false, description: 'Include torn-down VMs.' }),
    },
    resolve: (query, _root, args, ctx) =>
      ctx.db.query.vms.findMany(
        query({
          where: {
            ...(args.hostId ? { hostId: idOf('Host', String(args.hostId)) } : {}),
            ...(args.includeDeleted ? {} : { status: { ne: 'DELETED' as const } }),
          },
          orderBy: { name: 'asc' },
        }),
      ),
  }),
  vm: t.drizzleField({
    type: 'vms',
    nullable: true,
    description: 'One VM by global ID, or null.',
    args: { id: t.arg.id({ required: true, description: 'Global ID of the VM.' }) },
    resolve: (query, _root, args, ctx) => ctx.db.query.vms.findFirst(query({ where: { id: idOf('VM', String(args.id)) } })),
  }),
}));

const VmOperationSuccess = builder
  .objectRef<{ vm: VmRow; operation: OperationRow; devices: DeviceRow[] }>('VmOperationSuccess')
  .implement({
    description: 'The VM, the operation queued for its host agent, and the devices the operation moves.',
    fields: (t) => ({
      vm: t.field({ type: Vm, description: 'The VM in its in-flight status.', resolve: (r) => r.vm }),
      operation: t.field({ type: Operation, description: 'The queued operation.', resolve: (r) => r.operation }),
      devices: t.field({ type: [Device], description: 'Devices reserved or released by the operation.', resolve: (r) => r.devices }),
    }),
  });

function scopeOf(input: { clusterId?: string | number | null; hostId?: string | number | null }): Scope {
  if (input.clusterId && input.hostId) throw new ValidationError('clusterId', 'Give a cluster or a host, not both');
  if (input.hostId) return { hostId: idOf('Host', String(input.hostId)) };
  if (input.clusterId) return { clusterId: idOf('Cluster', String(input.clusterId)) };
  throw new ValidationError('clusterId', 'Give the cluster (or one host) to provision into');
}

builder.mutationFields((t) => ({
  provisionVm: t.fieldWithInput({
    type: VmOperationSuccess,
    description:
      "Create a VM from a service plan. Picks a host with the plan's GPU count free (fewest NUMA nodes spanned first) and reserves them atomically.",
    input: {
      name: t.input.string({ required: true, description: `VM name: ${VM_NAME_RULE}.` }),
      planId: t.input.id({ required: true, description: 'Global ID of the service plan.' }),
      clusterId: t.input.id({ required: false, description: 'Provision on any online host of this cluster.' }),
      hostId: t.input.id({ required: false, description: 'Provision on this host.' }),
    },
    errors: { types: [ValidationError, NotFoundError, NoCapacityError, HostOfflineError, HostBusyError] },
    resolve: (_root, { input }, ctx) =>
      provisionVm(ctx, { name: input.name, planId: idOf('ServicePlan', String(input.planId)), scope: scopeOf(input) }),
  }),
  deleteVm: t.fieldWithInput({
    type: VmOperationSuccess,
    description: 'Tear a VM down. Every device it holds returns to the pool (DETACHED).',
    input: { vmId: t.input.id({ required: true, description: 'Global ID of the VM.' }) },
    errors: { types: [NotFoundError, VmBusyError, HostOfflineError, HostBusyError, InvalidTransitionError] },
    resolve: (_root, { input }, ctx) => deleteVm(ctx, idOf('VM', String(input.vmId))),
  }),
  startVm: t.fieldWithInput({
    type: VmOperationSuccess,
    description: 'Power a stopped VM on.',
    input: { vmId: t.input.id({ required: true, description: 'Global ID of the VM.' }) },
    errors: { types: [NotFoundError, VmBusyError, HostOfflineError, HostBusyError] },
    resolve: (_root, { input }, ctx) => startVm(ctx, idOf('VM', String(input.vmId))),
  }),
  stopVm: t.fieldWithInput({
    type: VmOperationSuccess,
    description: 'Power a running VM off. It keeps its devices.',
    input: { vmId: t.input.id({ required: true, description: 'Global ID of the VM.' }) },
    errors: { types: [NotFoundError, VmBusyError, HostOfflineError, HostBusyError] },
    resolve: (_root, { input }, ctx) => stopVm(ctx, idOf('VM', String(input.vmId))),
  }),
}));

const VmChange = builder.objectRef<LiveEvent<'vm:changed'>>('VmChange').implement({
  description: 'A VM as it is after a committed change.',
  fields: (t) => ({
    cursor: t.string({ description: CURSOR_DESCRIPTION, resolve: (change) => formatCursor(change.seq) }),
    vm: t.field({ type: Vm, description: 'The VM now.', resolve: (change) => change.row }),
  }),
});

builder.subscriptionFields((t) => ({
  vmChanged: t.field({
    type: VmChange,
    description: 'A VM changed status.',
    args: {
      hostId: t.arg.id({ required: false, description: 'Only VMs on this host.' }),
      vmId: t.arg.id({ required: false, description: 'Only this VM.' }),
      after: t.arg.string({ required: false, description: AFTER_DESCRIPTION }),
    },
    subscribe: (_root, args, ctx) => ctx.live.watch({ topic: 'vm:changed', ...hostAndVmScope(args), after: args.after }),
    resolve: changeOf,
  }),
}));
