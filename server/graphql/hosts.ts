import { ne } from 'drizzle-orm';
import { vms } from '../db/schema/index.ts';
import { builder, FOR_AGENTS } from './builder.ts';
import { idOf } from './ids.ts';
import { AFTER_DESCRIPTION, CURSOR_DESCRIPTION, changeOf, formatCursor } from './changes.ts';
import type { LiveEvent } from '../live/events.ts';
import { NotFoundError, ValidationError } from '../domain/errors.ts';
import { createCluster, enrollHost, rotateHostToken, type HostRow } from '../domain/hosts.ts';
import { reportInventory } from '../domain/reconciliation.ts';
import { heartbeat } from '../domain/heartbeats.ts';
import { DeviceKindEnum } from './devices.ts';
import { HOST_NAME_RULE } from '../../protocol/rules.ts';

export const HostStatusEnum = builder.enumType('HostStatus', {
  description: 'Whether the host agent is heard from.',
  values: {
    ONLINE: { description: 'The agent sent a heartbeat within the heartbeat timeout.' },
    OFFLINE: { description: 'The agent has been silent longer than the heartbeat timeout.' },
  },
});

export const Cluster = builder.drizzleNode('clusters', {
  name: 'Cluster',
  description: 'A named group of KVM hosts; VMs are provisioned into a cluster.',
  id: { column: (c) => c.id },
  select: {},
  fields: (t) => ({
    name: t.exposeString('name', { description: 'Unique name of the cluster.' }),
    createdAt: t.expose('createdAt', { type: 'DateTime', description: 'When the cluster was created.' }),
    hosts: t.relatedConnection('hosts', { description: 'Hosts of the cluster, by name.', query: { orderBy: { name: 'asc' } } }),
  }),
});

export const Host = builder.drizzleNode('hosts', {
  name: 'Host',
  description: 'A KVM hypervisor with a Passthru agent.',
  id: { column: (h) => h.id },
  // Only what the query asks for is selected (never token_hash), and the name and status that
  // nearly every query asks for. Those two resolve straight from the row: an exposed column of a
  // type with a default selection is wrapped to check its row was planned, which costs more per
  // row than reading two short columns, and a row a mutation returns would be read again.
  select: { columns: { id: true, name: true, status: true } },
  fields: (t) => ({
    name: t.string({ description: 'Unique host name.', resolve: (h) => h.name }),
    cluster: t.relation('cluster', { description: 'The cluster the host belongs to.' }),
    status: t.field({ type: HostStatusEnum, description: 'ONLINE while the agent sends heartbeats.', resolve: (h) => h.status }),
    lastSeenAt: t.expose('lastSeenAt', { type: 'DateTime', nullable: true, description: 'Last heartbeat or inventory report.' }),
    cpuCores: t.exposeInt('cpuCores', { nullable: true, description: 'Logical CPUs, as the agent reports.' }),
    memoryMb: t.exposeInt('memoryMb', { nullable: true, description: 'Memory in MiB, as the agent reports.' }),
    iommuEnabled: t.exposeBoolean('iommuEnabled', { description: 'Whether the kernel has IOMMU groups; passthrough needs it.' }),
    devices: t.relatedConnection('devices', {
      description: 'Devices of the host, by address.',
      args: { kind: t.arg({ type: DeviceKindEnum, required: false, description: 'Only devices of this kind.' }) },
      query: (args) => ({ where: args.kind ? { kind: args.kind } : {}, orderBy: { address: 'asc' } }),
    }),
    vms: t.relatedConnection('vms', {
      description: 'Live (not deleted) VMs on the host, by name.',
      query: { where: { status: { ne: 'DELETED' } }, orderBy: { name: 'asc' } },
    }),
    vmCount: t.relatedCount('vms', { description: 'How many live (not deleted) VMs the host has.', where: ne(vms.status, 'DELETED') }),
  }),
});

builder.queryFields((t) => ({
  clusters: t.drizzleField({
    type: ['clusters'],
    description: 'All clusters, by name.',
    resolve: (query, _root, _args, ctx) => ctx.db.query.clusters.findMany(query({ orderBy: { name: 'asc' } })),
  }),
  hosts: t.drizzleConnection({
    type: 'hosts',
    description: 'Hosts, by name.',
    args: {
      clusterId: t.arg.id({ required: false, description: 'Only hosts of this cluster.' }),
      status: t.arg({ type: HostStatusEnum, required: false, description: 'Only hosts with this status.' }),
    },
    resolve: (query, _root, args, ctx) =>
      ctx.db.query.hosts.findMany(
        query({
          where: {
            ...(args.clusterId ? { clusterId: idOf('Cluster', args.clusterId) } : {}),
            ...(args.status ? { status: args.status } : {}),
          },
          orderBy: { name: 'asc' },
        }),
      ),
  }),
  host: t.drizzleField({
    type: 'hosts',
    nullable: true,
    description: 'One host by global ID, or null.',
    args: { id: t.arg.id({ required: true, description: 'Global ID of the host.' }) },
    resolve: (query, _root, args, ctx) => ctx.db.query.hosts.findFirst(query({ where: { id: idOf('Host', String(args.id)) } })),
  }),
}));

const EnrollHostSuccess = builder.objectRef<{ host: HostRow; token: string }>('EnrollHostSuccess').implement({
  description: 'A host and its new agent token. The token is shown only here: store it on the host.',
  fields: (t) => ({
    host: t.field({ type: Host, description: 'The host, OFFLINE until its agent connects.', resolve: (r) => r.host }),
    token: t.exposeString('token', { description: 'The agent token (`passthru-agent --token`). Only its hash is stored.' }),
  }),
});

builder.mutationFields((t) => ({
  createCluster: t.withAuth({ admin: true }).fieldWithInput({
    type: Cluster,
    description: 'Create a cluster of hosts. Admin.',
    input: { name: t.input.string({ required: true, description: `Unique name, ${HOST_NAME_RULE}.` }) },
    errors: { types: [ValidationError] },
    resolve: (_root, { input }, ctx) => createCluster(ctx, input.name),
  }),
  enrollHost: t.withAuth({ admin: true }).fieldWithInput({
    type: EnrollHostSuccess,
    description: 'Register a KVM host and get the token its agent connects with. Admin.',
    input: {
      name: t.input.string({ required: true, description: `Unique host name, ${HOST_NAME_RULE}.` }),
      clusterId: t.input.id({ required: true, description: 'Global ID of the cluster it joins.' }),
    },
    errors: { types: [ValidationError, NotFoundError] },
    resolve: (_root, { input }, ctx) => enrollHost(ctx, { name: input.name, clusterId: idOf('Cluster', String(input.clusterId)) }),
  }),
  rotateHostToken: t.withAuth({ admin: true }).fieldWithInput({
    type: EnrollHostSuccess,
    description: "Issue a new agent token for a host; the old token stops working at once, live connections included. Admin.",
    input: { hostId: t.input.id({ required: true, description: 'Global ID of the host.' }) },
    errors: { types: [NotFoundError] },
    resolve: async (_root, { input }, ctx) => {
      const rotated = await rotateHostToken(ctx, idOf('Host', String(input.hostId)));
      // Refused on this process's very next request, as a revoked API token is; others hear it from the bus.
      ctx.principals.forget({ kind: 'host', id: rotated.host.id });
      return rotated;
    },
  }),
}));

const HostFactsInput = builder.inputType('HostFactsInput', {
  description: 'What an agent knows about its host as a whole.',
  fields: (t) => ({
    cpuCores: t.int({ required: true, description: 'Logical CPUs.' }),
    memoryMb: t.int({ required: true, description: 'Memory in MiB.' }),
    iommuEnabled: t.boolean({ required: true, description: 'Whether the kernel exposes IOMMU groups.' }),
  }),
});

const ReportedDeviceInput = builder.inputType('ReportedDeviceInput', {
  description: 'One device exactly as the agent found it.',
  fields: (t) => ({
    kind: t.field({ type: DeviceKindEnum, required: true, description: 'GPU, USB, NVME or PCI.' }),
    address: t.string({ required: true, description: 'PCI address (0000:65:00.0) or USB port path (1-2.3).' }),
    vendorId: t.string({ required: true, description: 'Four lowercase hex digits.' }),
    productId: t.string({ required: true, description: 'Four lowercase hex digits.' }),
    vendorName: t.string({ required: false, description: 'Vendor name from the ID database.' }),
    productName: t.string({ required: false, description: 'Product name from the ID database.' }),
    classCode: t.string({ required: false, description: 'PCI class code, 6 lowercase hex digits (030000). Null for USB.' }),
    subsystemVendorId: t.string({ required: false, description: 'PCI subsystem vendor ID, 4 lowercase hex digits. Null for USB.' }),
    subsystemProductId: t.string({ required: false, description: 'PCI subsystem device ID, 4 lowercase hex digits. Null for USB.' }),
    revision: t.string({ required: false, description: 'PCI revision ID, 2 lowercase hex digits. Null for USB.' }),
    serial: t.string({ required: false, description: 'Serial number, where the device has one.' }),
    iommuGroup: t.int({ required: false, description: 'IOMMU group number.' }),
    numaNode: t.int({ required: false, description: 'NUMA node, when known.' }),
    driver: t.string({ required: false, description: 'Kernel driver bound now (vfio-pci when pooled).' }),
    inUse: t.string({
      required: false,
      description: 'What on the host holds it (a mounted filesystem, swap, LVM/RAID, the default-route NIC); omitted or null when the host does not use it.',
    }),
  }),
});

const ReportedVmInput = builder.inputType('ReportedVmInput', {
  description: 'One hypervisor domain exactly as the agent found it.',
  fields: (t) => ({
    name: t.string({ required: true, description: 'Domain name (the VM name for VMs Passthru created).' }),
    running: t.boolean({ required: true, description: 'Whether the domain is running.' }),
    deviceAddresses: t.stringList({ required: true, description: 'Addresses of the devices passed through to it.' }),
  }),
});

builder.mutationFields((t) => ({
  heartbeat: t.withAuth({ agent: true }).field({
    type: Host,
    description:
      'Agent: I am alive. Keeps the host ONLINE. Answered at once with the host as this connection knows it; the server writes heartbeats in batches (PASSTHRU_HEARTBEAT_FLUSH_INTERVAL).',
    ...FOR_AGENTS,
    errors: { types: [NotFoundError] },
    resolve: (_root, _args, ctx) => heartbeat(ctx.heartbeats, ctx.principal.host),
  }),
  reportInventory: t.withAuth({ agent: true }).fieldWithInput({
    type: Host,
    description: "Agent: the host's full device inventory. The server reconciles it with what it believed; the report wins.",
    input: {
      facts: t.input.field({ type: HostFactsInput, required: true, description: 'Host-wide facts.' }),
      devices: t.input.field({ type: [ReportedDeviceInput], required: true, description: 'Every device the host has now.' }),
      vms: t.input.field({
        type: [ReportedVmInput],
        required: false,
        description: "The host's domains; when given, assignments and VM power follow them. Omitted means unknown.",
      }),
    },
    ...FOR_AGENTS,
    errors: { types: [ValidationError, NotFoundError] },
    resolve: async (_root, { input }, ctx) => {
      const { host } = ctx.principal;
      // A report is also a heartbeat: its last_seen_at is written with the next batch.
      return heartbeat(ctx.heartbeats, await reportInventory(
        ctx,
        host.id,
        input.facts,
        input.devices.map((d) => ({
          kind: d.kind,
          address: d.address,
          vendorId: d.vendorId,
          productId: d.productId,
          vendorName: d.vendorName ?? null,
          productName: d.productName ?? null,
          classCode: d.classCode ?? null,
          subsystemVendorId: d.subsystemVendorId ?? null,
          subsystemProductId: d.subsystemProductId ?? null,
          revision: d.revision ?? null,
          serial: d.serial ?? null,
          iommuGroup: d.iommuGroup ?? null,
          numaNode: d.numaNode ?? null,
          driver: d.driver ?? null,
          inUse: d.inUse ?? null,
        })),
        input.vms ?? null,
      ));
    },
  }),
}));

const HostChange = builder.objectRef<LiveEvent<'host:changed'>>('HostChange').implement({
  description: 'A host as it is after a committed change.',
  fields: (t) => ({
    cursor: t.string({ description: CURSOR_DESCRIPTION, resolve: (change) => formatCursor(change.seq) }),
    host: t.field({ type: Host, description: 'The host now.', resolve: (change) => change.row }),
  }),
});

builder.subscriptionFields((t) => ({
  hostChanged: t.field({
    type: HostChange,
    description: 'A host changed: status, facts or inventory.',
    args: {
      hostId: t.arg.id({ required: false, description: 'Only this host.' }),
      after: t.arg.string({ required: false, description: AFTER_DESCRIPTION }),
    },
    subscribe: (_root, args, ctx) => {
      const only = args.hostId ? idOf('Host', String(args.hostId)) : null;
      return ctx.live.watch({ topic: 'host:changed', scope: only ? `host:${only}` : null, after: args.after });
    },
    resolve: changeOf,
  }),
}));
