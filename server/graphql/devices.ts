import { builder } from './builder.ts';
import { idOf } from './ids.ts';
import { AFTER_DESCRIPTION, CURSOR_DESCRIPTION, changeOf, formatCursor, hostAndVmScope } from './changes.ts';
import type { LiveEvent } from '../live/events.ts';
import { assignDevice, attachDevice, detachDevice, releaseDevice } from '../domain/devices.ts';
import type { DeviceRow } from '../domain/device-store.ts';
import type { OperationRow } from '../domain/operations.ts';
import { HostBusyError, HostOfflineError, InvalidTransitionError, IommuGroupInUseError, NotFoundError, VmBusyError, WrongHostError } from '../domain/errors.ts';
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
    status: t.field({ type: DeviceStatusEnum, description: 'Lifecycle status.', resolve: (d) => d.status }),
    updatedAt: t.expose('updatedAt', { type: 'DateTime', description: 'Last change of status or description.' }),
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

builder.mutationFields((t) => ({
  detachDevice: t.fieldWithInput({
    type: DeviceOperationSuccess,
    description: 'Take a device (and the rest of its IOMMU group) from the host OS into the pool, bound to vfio-pci.',
    input: { deviceId: t.input.id({ required: true, description: 'Global ID of the device.' }) },
    errors: { types: deviceErrors },
    resolve: (_root, { input }, ctx) => detachDevice(ctx.services, idOf('Device', String(input.deviceId))),
  }),
  attachDevice: t.fieldWithInput({
    type: DeviceOperationSuccess,
    description: 'Give a pooled device (and the rest of its IOMMU group) back to its host driver.',
    input: { deviceId: t.input.id({ required: true, description: 'Global ID of the device.' }) },
    errors: { types: deviceErrors },
    resolve: (_root, { input }, ctx) => attachDevice(ctx.services, idOf('Device', String(input.deviceId))),
  }),
  assignDevice: t.fieldWithInput({
    type: DeviceOperationSuccess,
    description: 'Pass a pooled (DETACHED) device through to a VM on the same host.',
    input: {
      deviceId: t.input.id({ required: true, description: 'Global ID of the device.' }),
      vmId: t.input.id({ required: true, description: 'Global ID of the VM.' }),
    },
    errors: { types: [...deviceErrors, WrongHostError, VmBusyError, IommuGroupInUseError] },
    resolve: (_root, { input }, ctx) =>
      assignDevice(ctx.services, idOf('Device', String(input.deviceId)), idOf('VM', String(input.vmId))),
  }),
  releaseDevice: t.fieldWithInput({
    type: DeviceOperationSuccess,
    description: 'Take an assigned device back from its VM into the pool.',
    input: { deviceId: t.input.id({ required: true, description: 'Global ID of the device.' }) },
    errors: { types: deviceErrors },
    resolve: (_root, { input }, ctx) => releaseDevice(ctx.services, idOf('Device', String(input.deviceId))),
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
