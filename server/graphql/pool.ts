import { builder } from './builder.ts';
import { idOf } from './ids.ts';
import { DeviceKindEnum } from './devices.ts';
import { FreeGpusRef, HOSTS_SHOWN, mostFreeFirst } from './errors.ts';
import { ServicePlan } from './plans.ts';
import { Host } from './hosts.ts';
import { hostPoolOf, loadPool, type Pool, type PoolCounts } from '../domain/pool.ts';
import { findPlan } from '../domain/plans.ts';
import { checkScope, planCapacity, type CapacityView } from '../domain/vms.ts';
import { ValidationError } from '../domain/errors.ts';

const PoolCountsRef = builder.interfaceRef<PoolCounts>('PoolCounts').implement({
  description: 'How many devices are in each state.',
  fields: (t) => ({
    free: t.exposeInt('free', { description: 'DETACHED: in the pool, free for a VM.' }),
    assigned: t.exposeInt('assigned', { description: 'ASSIGNED to a VM.' }),
    attached: t.exposeInt('attached', { description: 'ATTACHED to the host OS.' }),
    busy: t.exposeInt('busy', { description: 'With an operation in flight.' }),
    missing: t.exposeInt('missing', { description: "MISSING from their host's inventory." }),
    total: t.exposeInt('total', { description: 'All of them.' }),
  }),
});

const KindPool = builder.objectRef<Pool['byKind'][number]>('KindPool').implement({
  description: 'Counts for one kind of device across the fleet.',
  interfaces: [PoolCountsRef],
  fields: (t) => ({ kind: t.expose('kind', { type: DeviceKindEnum, description: 'The kind.' }) }),
});

const ModelPool = builder.objectRef<Pool['byModel'][number]>('ModelPool').implement({
  description: 'Counts for one device model (vendor and product ID) across the fleet.',
  interfaces: [PoolCountsRef],
  fields: (t) => ({
    kind: t.expose('kind', { type: DeviceKindEnum, description: 'The kind.' }),
    vendorId: t.exposeString('vendorId', { description: 'Vendor ID.' }),
    productId: t.exposeString('productId', { description: 'Product ID.' }),
    name: t.exposeString('name', { description: 'Model name.' }),
    vendorName: t.exposeString('vendorName', { nullable: true, description: 'Vendor name, when the ID database knows it.' }),
  }),
});

builder.drizzleObjectField(Host, 'pool', (t) =>
  t.field({
    type: [KindPool],
    description: 'Counts per kind of device on this host (the kinds it has).',
    select: { extras: { pool: (host) => hostPoolOf(host.id) } },
    resolve: (host) => host.pool,
  }),
);

const PoolRef = builder.objectRef<Pool>('Pool').implement({
  description: 'The device pool at a glance.',
  fields: (t) => ({
    byKind: t.field({ type: [KindPool], description: 'Per kind of device.', resolve: (pool) => pool.byKind }),
    byModel: t.field({
      type: [ModelPool],
      description: 'Per device model, most numerous first.',
      args: { kind: t.arg({ type: DeviceKindEnum, required: false, description: 'Only this kind.' }) },
      resolve: (pool, args) => (args.kind ? pool.byModel.filter((m) => m.kind === args.kind) : pool.byModel),
    }),
  }),
});

const Capacity = builder.objectRef<CapacityView>('Capacity').implement({
  description: 'Whether a service plan fits now (its GPUs, cores and memory on one host), where, and which GPUs it would get.',
  fields: (t) => ({
    plan: t.field({ type: ServicePlan, description: 'The plan.', resolve: (c) => c.plan }),
    fits: t.boolean({ description: 'A provision now would succeed.', resolve: (c) => c.placement !== null }),
    host: t.drizzleField({
      type: 'hosts',
      nullable: true,
      description: 'The host a provision now would choose.',
      resolve: (query, c, _args, ctx) =>
        c.placement ? ctx.db.query.hosts.findFirst(query({ where: { id: c.placement.hostId } })) : null,
    }),
    gpus: t.drizzleField({
      type: ['devices'],
      description: 'The GPUs a provision now would get.',
      resolve: (query, c, _args, ctx) => {
        const ids = c.placement?.gpus.map((gpu) => gpu.id) ?? [];
        return ids.length === 0 ? [] : ctx.db.query.devices.findMany(query({ where: { id: { in: ids } }, orderBy: { address: 'asc' } }));
      },
    }),
    numaNodesSpanned: t.int({ nullable: true, description: 'NUMA nodes those GPUs span.', resolve: (c) => c.placement?.numaNodesSpanned ?? null }),
    freeByHost: t.field({
      type: [FreeGpusRef],
      description: 'What the online hosts of the scope have free for the plan (GPUs, cores, memory) and are short of, most free GPUs first.',
      args: { first: t.arg.int({ required: false, description: HOSTS_SHOWN }) },
      resolve: (c, args) => mostFreeFirst(c.freeByHost, args.first),
    }),
    fitsOn: t.field({
      type: [FreeGpusRef],
      description: "The online hosts of the scope with the plan's matching free GPUs, cores and memory now, most free GPUs first.",
      args: { first: t.arg.int({ required: false, description: HOSTS_SHOWN }) },
      resolve: (c, args) => mostFreeFirst(c.freeByHost.filter((host) => host.short.length === 0), args.first),
    }),
  }),
});

builder.queryFields((t) => ({
  pool: t.field({
    type: PoolRef,
    description: 'Free / assigned / attached device counts by kind and by model (per host: Host.pool).',
    resolve: (_root, _args, ctx) => loadPool(ctx.db),
  }),
  capacity: t.field({
    type: Capacity,
    description: 'Whether a plan fits now in a cluster (or on one host), on which host, and which GPUs it would get.',
    args: {
      planId: t.arg.id({ required: true, description: 'Global ID of the plan.' }),
      clusterId: t.arg.id({ required: false, description: 'The cluster to place it in.' }),
      hostId: t.arg.id({ required: false, description: 'Or one host.' }),
    },
    resolve: async (_root, args, ctx) => {
      if (!args.clusterId === !args.hostId) throw new ValidationError('clusterId', 'Give exactly one of clusterId or hostId');
      const scope = args.hostId ? { hostId: idOf('Host', String(args.hostId)) } : { clusterId: idOf('Cluster', String(args.clusterId)) };
      await checkScope(ctx.db, scope);
      return planCapacity(ctx.db, await findPlan(ctx.db, idOf('ServicePlan', String(args.planId))), scope);
    },
  }),
}));

