import { builder } from './builder.ts';
import { idOf } from './ids.ts';
import { AFTER_DESCRIPTION, CURSOR_DESCRIPTION, changeOf, formatCursor, hostAndVmScope } from './changes.ts';
import type { LiveEvent } from '../live/events.ts';
import { encodeGlobalID } from '@pothos/plugin-relay';
import { assignDevice, attachDevice, detachDevice, releaseDevice } from '../domain/devices.ts';
import { possibleActions } from '../domain/device-actions.ts';
import { DEVICE_ACTIONS, DEVICE_STATUSES, startsFrom, type DeviceAction } from '../domain/device-state.ts';
import type { DeviceRow } from '../domain/device-store.ts';
import type { OperationRow } from '../domain/operations.ts';
import {
  DeviceInUseError,
  HostBusyError,
  HostOfflineError,
  InvalidTransitionError,
  IommuGroupInUseError,
  IommuGroupMembersError,
  NotFoundError,
  VmBusyError,
  WrongHostError,
} from '../domain/errors.ts';
import { ErrorInterface } from './errors.ts';
import { deviceKind, deviceStatus } from '../db/schema/enums.ts';
import { Operation } from './operations.ts';

export const DeviceKindEnum = builder.enumType('DeviceKind', {
  description: 'What sort of device it is.',
  values: {
    GPU: { description: 'A PCI display controller (class 03xx).' },
    USB: { description: 'A USB device (hubs excluded).' },
    NVME: { description: 'An NVMe controller (class 010802).' },
    PCI: { description: 'Any other PCI endpoint: a NIC, an accelerator, an HBA...' },
  } satisfies Record<(typeof deviceKind.enumValues)[number], unknown>,
});

export const DeviceStatusEnum = builder.enumType('DeviceStatus', {
  description: 'Where a device is in its lifecycle. The -ING states mean an operation is in flight.',
  values: {
    ATTACHED: { description: 'Bound to its host OS driver.' },
    DETACHED: { description: 'In the pool: bound to vfio-pci, free for a VM on its host.' },
    ASSIGNED: { description: 'Passed through to one VM.' },
    DETACHING: { description: 'Being bound to vfio-pci.' },
    ATTACHING: { description: 'Being given back to the host driver.' },
    ASSIGNING: { description: 'Being passed through to a VM.' },
    RELEASING: { description: 'Being taken back from a VM into the pool.' },
    MISSING: { description: "Absent from its host's latest inventory." },
  } satisfies Record<(typeof deviceStatus.enumValues)[number], unknown>,
});

export const DeviceActionEnum = builder.enumType('DeviceAction', {
  description: 'Something an operator does to a device; each starts from one status of the device state machine.',
  values: {
    DETACH: { description: 'From the host OS into the pool (ATTACHED to DETACHED), with its IOMMU group.' },
    ATTACH: { description: 'From the pool back to the host driver (DETACHED to ATTACHED), with its IOMMU group.' },
    ASSIGN: { description: 'Pass through to a VM on its host (DETACHED to ASSIGNED), with the free functions of its IOMMU group.' },
    RELEASE: { description: 'Take back from its VM into the pool (ASSIGNED to DETACHED), with the functions of its IOMMU group that VM holds.' },
  } satisfies Record<DeviceAction, unknown>,
});

interface DeviceActionView {
  action: DeviceAction;
  enabled: boolean;
  reason: string | null;
  deviceIds: string[];
}

const DeviceActionOption = builder.objectRef<DeviceActionView>('DeviceActionOption').implement({
  description: 'One action a device offers now, whether it may start, and what it would move.',
  fields: (t) => ({
    action: t.field({ type: DeviceActionEnum, description: 'The action.', resolve: (option) => option.action }),
    enabled: t.exposeBoolean('enabled', { description: 'Whether it may start now; when false, the mutation would be refused with `reason`.' }),
    reason: t.exposeString('reason', { nullable: true, description: 'Why it may not start now, and what to do first; null when enabled.' }),
    deviceIds: t.field({
      type: ['ID'],
      complexity: { field: 1, multiplier: IOMMU_GROUP_GUESS },
      description: 'Global IDs of the devices it would move, the device itself included: its IOMMU group, or the part of it the action moves.',
      resolve: (option) => option.deviceIds.map((id) => encodeGlobalID('Device', id)),
    }),
  }),
});

// What the query cost limit counts these small lists as: the most actions one status offers
// (from the state machine), and the functions of a multi-function card (a GPU, its audio, maybe a
// USB-C controller) for an IOMMU group.
const MOST_ACTIONS = Math.max(...DEVICE_STATUSES.map((status) => DEVICE_ACTIONS.filter((action) => startsFrom(action, status)).length));
const IOMMU_GROUP_GUESS = 4;

// Every column the state machine and the group rule read, so group members and the device compare alike.
const DEVICE_ACTION_COLUMNS = { id: true, hostId: true, kind: true, address: true, status: true, vmId: true, inUse: true, iommuGroup: true } as const;

export const Device = builder.drizzleNode('devices', {
  name: 'Device',
  description: 'A GPU, USB device, NVMe drive or other PCI endpoint on one host.',
  id: { column: (d) => d.id },
  // Address and status always: they resolve straight from the row (see Host).
  select: { columns: { address: true, status: true } },
  fields: (t) => ({
    kind: t.expose('kind', { type: DeviceKindEnum, description: 'GPU, USB, NVME or PCI.' }),
    address: t.string({ description: 'PCI address (0000:65:00.0) or USB port path (1-2.3).', resolve: (d) => d.address }),
    vendorId: t.exposeString('vendorId', { description: 'PCI/USB vendor ID, 4 hex digits.' }),
    productId: t.exposeString('productId', { description: 'PCI/USB product ID, 4 hex digits.' }),
    vendorName: t.exposeString('vendorName', { nullable: true, description: 'Vendor name as lspci / lsusb give it (pci.ids, the udev hwdb).' }),
    productName: t.exposeString('productName', { nullable: true, description: 'Product name as lspci / lsusb give it (pci.ids, the udev hwdb).' }),
    name: t.string({
      description: 'A readable name: the product name, else vendor and IDs.',
      select: { columns: { productName: true, vendorName: true, vendorId: true, productId: true } },
      resolve: (d) => d.productName ?? `${d.vendorName ?? 'Unknown vendor'} [${d.vendorId}:${d.productId}]`,
    }),
    classCode: t.exposeString('classCode', {
      nullable: true,
      description: 'PCI class, subclass and programming interface as 6 lowercase hex digits (030000 VGA, 030200 3D, 010802 NVMe), as `lspci -nn` shows them. Null for USB.',
    }),
    subsystemVendorId: t.exposeString('subsystemVendorId', { nullable: true, description: 'PCI subsystem (board) vendor ID, 4 hex digits. Null for USB.' }),
    subsystemProductId: t.exposeString('subsystemProductId', { nullable: true, description: 'PCI subsystem (board) device ID, 4 hex digits. Null for USB.' }),
    revision: t.exposeString('revision', { nullable: true, description: 'PCI revision ID, 2 hex digits (`rev a1` in lspci). Null for USB.' }),
    serial: t.exposeString('serial', { nullable: true, description: 'Serial number, where the device has one.' }),
    iommuGroup: t.exposeInt('iommuGroup', { nullable: true, description: 'IOMMU group; functions of one group move together.' }),
    numaNode: t.exposeInt('numaNode', { nullable: true, description: 'NUMA node the device is attached to.' }),
    driver: t.exposeString('driver', { nullable: true, description: 'Kernel driver bound on the host, as last reported.' }),
    inUse: t.exposeString('inUse', {
      nullable: true,
      description: 'What on the host holds it (a mounted filesystem, swap, LVM/RAID, the default-route NIC), as its agent last reported; null when the host does not use it. It cannot be detached meanwhile.',
    }),
    status: t.field({ type: DeviceStatusEnum, description: 'Lifecycle status.', resolve: (d) => d.status }),
    updatedAt: t.expose('updatedAt', { type: 'DateTime', description: 'Last change of status or description.' }),
    actions: t.field({
      type: [DeviceActionOption],
      complexity: { field: 1, multiplier: MOST_ACTIONS },
      description:
        "What an operator can do to the device now: the actions its status offers in the device state machine, each enabled or with the reason it is not (the host is offline, the host uses the device, a function of its IOMMU group cannot move or another VM holds one), and the devices it would move. Empty while an operation is in flight or the device is missing.",
      select: {
        columns: DEVICE_ACTION_COLUMNS,
        with: {
          host: { columns: { id: true, name: true, status: true } },
          vm: { columns: { name: true } },
          iommuGroupMembers: { orderBy: { id: 'asc' }, with: { vm: { columns: { name: true } } } },
        },
      },
      resolve: (d) => {
        const device = { row: d, vmName: d.vm?.name ?? null };
        const members = d.iommuGroupMembers.map((row) => (row.id === d.id ? device : { row, vmName: row.vm?.name ?? null }));
        return possibleActions({ device, group: members.length > 0 ? members : [device], host: d.host }).map(({ action, devices, refusal }) => ({
          action,
          enabled: refusal === null,
          reason: refusal?.message ?? null,
          deviceIds: devices.map((member) => member.row.id),
        }));
      },
    }),
    iommuGroupMembers: t.relation('iommuGroupMembers', {
      complexity: { field: 1, multiplier: IOMMU_GROUP_GUESS },
      description: 'Every PCI function sharing its IOMMU group on its host, itself included, by ID; empty when it has no group (USB, or the IOMMU is off). They move together.',
      query: { orderBy: { id: 'asc' } },
    }),
    host: t.relation('host', { description: 'The host the device is in.' }),
    vm: t.relation('vm', { nullable: true, description: 'The VM holding the device (assigning, assigned or releasing).' }),
    history: t.relation('events', {
      description: 'Status changes, newest first.',
      args: { last: t.arg.int({ required: false, description: 'How many (default 20, at most 200).' }) },
      query: (args) => ({ orderBy: { id: 'desc' }, limit: Math.min(Math.max(args.last ?? 20, 1), 200) }),
    }),
  }),
});

builder.drizzleObject('deviceEvents', {
  name: 'DeviceEvent',
  description: 'One status change of a device.',
  select: {},
  fields: (t) => ({
    fromStatus: t.expose('fromStatus', { type: DeviceStatusEnum, nullable: true, description: 'Status before; null when the device first appeared.' }),
    toStatus: t.expose('toStatus', { type: DeviceStatusEnum, description: 'Status after.' }),
    actor: t.exposeString('actor', { description: 'Who caused it: a user, an agent, or system:timeout.' }),
    note: t.exposeString('note', { nullable: true, description: 'Why, when it was not a plain operation step (an error, an inventory report).' }),
    at: t.expose('at', { type: 'DateTime', description: 'When.' }),
    vm: t.relation('vm', { nullable: true, description: 'The VM involved, if any.' }),
    operation: t.relation('operation', { nullable: true, description: 'The operation that caused it, if any.' }),
  }),
});

const DeviceFilter = builder.inputType('DeviceFilter', {
  description: 'Narrow a device list; all given conditions must hold.',
  fields: (t) => ({
    hostId: t.id({ required: false, description: 'Only devices of this host.' }),
    vmId: t.id({ required: false, description: 'Only devices held by this VM.' }),
    kind: t.field({ type: DeviceKindEnum, required: false, description: 'Only this kind.' }),
    status: t.field({ type: [DeviceStatusEnum], required: false, description: 'Only these statuses.' }),
  }),
});

builder.queryFields((t) => ({
  devices: t.drizzleConnection({
    type: 'devices',
    description: 'Devices across all hosts, by host and address.',
    args: { filter: t.arg({ type: DeviceFilter, required: false, description: 'Conditions.' }) },
    resolve: (query, _root, { filter }, ctx) =>
      ctx.db.query.devices.findMany(
        query({
          where: {
            ...(filter?.hostId ? { hostId: idOf('Host', String(filter.hostId)) } : {}),
            ...(filter?.vmId ? { vmId: idOf('VM', String(filter.vmId)) } : {}),
            ...(filter?.kind ? { kind: filter.kind } : {}),
            ...(filter?.status?.length ? { status: { in: filter.status } } : {}),
          },
          orderBy: { hostId: 'asc', address: 'asc' },
        }),
      ),
  }),
}));

export interface DeviceOperationResult {
  operation: OperationRow;
  devices: DeviceRow[];
}

export const DeviceOperationSuccess = builder.objectRef<DeviceOperationResult>('DeviceOperationSuccess').implement({
  description: 'The operation queued for the host agent, and the devices it moved into their in-flight status.',
  fields: (t) => ({
    operation: t.field({ type: Operation, description: 'The queued operation; watch it with operationChanged.', resolve: (r) => r.operation }),
    devices: t.field({ type: [Device], description: 'Every device the operation moves (a whole IOMMU group for detach/attach).', resolve: (r) => r.devices }),
  }),
});

const deviceErrors = [NotFoundError, InvalidTransitionError, HostOfflineError, HostBusyError];

builder.objectType(DeviceInUseError, {
  name: 'DeviceInUseError',
  description: 'The host itself uses the device (a mounted filesystem, swap, LVM/RAID, the default-route NIC), so it stays attached.',
  interfaces: [ErrorInterface],
  fields: (t) => ({
    deviceId: t.id({ description: 'Global ID of the device the host uses (the chosen one or a function of its IOMMU group).', resolve: (e) => encodeGlobalID('Device', e.deviceId) }),
    inUse: t.exposeString('inUse', { description: 'What on the host holds it, as its agent reported.' }),
  }),
});

builder.objectType(IommuGroupMembersError, {
  name: 'IommuGroupMembersError',
  description: 'The device shares its IOMMU group with other free functions, which must go to the same VM; ask for them with withGroup: true.',
  interfaces: [ErrorInterface],
  fields: (t) => ({
    deviceId: t.id({ description: 'Global ID of the device asked for.', resolve: (e) => encodeGlobalID('Device', e.deviceId) }),
    members: t.field({ type: [Device], description: 'The other functions of the group that would go along.', resolve: (e) => e.members }),
  }),
});

builder.mutationFields((t) => ({
  detachDevice: t.fieldWithInput({
    type: DeviceOperationSuccess,
    description: 'Take a device (and the rest of its IOMMU group) from the host OS into the pool, bound to vfio-pci.',
    input: { deviceId: t.input.id({ required: true, description: 'Global ID of the device.' }) },
    errors: { types: [...deviceErrors, DeviceInUseError] },
    resolve: (_root, { input }, ctx) => detachDevice(ctx, idOf('Device', String(input.deviceId))),
  }),
  attachDevice: t.fieldWithInput({
    type: DeviceOperationSuccess,
    description: 'Give a pooled device (and the rest of its IOMMU group) back to its host driver.',
    input: { deviceId: t.input.id({ required: true, description: 'Global ID of the device.' }) },
    errors: { types: deviceErrors },
    resolve: (_root, { input }, ctx) => attachDevice(ctx, idOf('Device', String(input.deviceId))),
  }),
  assignDevice: t.fieldWithInput({
    type: DeviceOperationSuccess,
    description:
      'Pass a pooled (DETACHED) device through to a VM on the same host, with the free functions of its IOMMU group (VFIO hands a whole group to one VM).',
    input: {
      deviceId: t.input.id({ required: true, description: 'Global ID of the device.' }),
      vmId: t.input.id({ required: true, description: 'Global ID of the VM.' }),
      withGroup: t.input.boolean({
        required: false,
        defaultValue: false,
        description: 'Also assign the free functions sharing its IOMMU group (a GPU and its audio function). Without it, a device that has any is refused with IommuGroupMembersError naming them.',
      }),
    },
    errors: { types: [...deviceErrors, WrongHostError, VmBusyError, IommuGroupInUseError, IommuGroupMembersError] },
    resolve: (_root, { input }, ctx) =>
      assignDevice(ctx, idOf('Device', String(input.deviceId)), idOf('VM', String(input.vmId)), input.withGroup ?? false),
  }),
  releaseDevice: t.fieldWithInput({
    type: DeviceOperationSuccess,
    description: 'Take an assigned device back from its VM into the pool, with the functions of its IOMMU group that VM holds.',
    input: { deviceId: t.input.id({ required: true, description: 'Global ID of the device.' }) },
    errors: { types: deviceErrors },
    resolve: (_root, { input }, ctx) => releaseDevice(ctx, idOf('Device', String(input.deviceId))),
  }),
}));

const DeviceChange = builder.objectRef<LiveEvent<'device:changed'>>('DeviceChange').implement({
  description: 'A device as it is after a committed change.',
  fields: (t) => ({
    cursor: t.string({ description: CURSOR_DESCRIPTION, resolve: (change) => formatCursor(change.seq) }),
    device: t.field({ type: Device, description: 'The device now.', resolve: (change) => change.row }),
  }),
});

builder.subscriptionFields((t) => ({
  deviceChanged: t.field({
    type: DeviceChange,
    description: 'A device changed status or description. Filter by host, by VM (held before or after), or neither.',
    args: {
      hostId: t.arg.id({ required: false, description: 'Only devices of this host.' }),
      vmId: t.arg.id({ required: false, description: 'Only devices this VM held before or holds after the change.' }),
      after: t.arg.string({ required: false, description: AFTER_DESCRIPTION }),
    },
    subscribe: (_root, args, ctx) => ctx.live.watch({ topic: 'device:changed', ...hostAndVmScope(args), after: args.after }),
    resolve: changeOf,
  }),
}));
