import { encodeGlobalID } from '@pothos/plugin-relay';
import { ne } from 'drizzle-orm';
import { vms } from '../db/schema/index.ts';
import { builder } from './builder.ts';
import { idOf } from './ids.ts';
import { AFTER_DESCRIPTION, CURSOR_DESCRIPTION, changeOf, formatCursor } from './changes.ts';
import type { LiveEvent } from '../live/events.ts';
import { createServicePlan, deleteServicePlan, gpuModelReported, planWarnings, updateServicePlan, type PlanWarning, PLAN_WARNING_CODES } from '../domain/plans.ts';
import type { PlanRow } from '../domain/plans.ts';
import { NotFoundError, PlanInUseError, ValidationError } from '../domain/errors.ts';
import { provisionType } from '../db/schema/enums.ts';
import { describeRange, LABEL_MAX_LENGTH, PLAN_LIMITS } from '../../protocol/rules.ts';

export const ProvisionTypeEnum = builder.enumType('ProvisionType', {
  description: 'How a plan provisions its workloads.',
  values: {
    KVM: { description: 'A KVM virtual machine; the only type that can have passthrough GPUs.' },
    LXC: { description: 'A system container.' },
    BARE_METAL: { description: 'A whole host.' },
  } satisfies Record<(typeof provisionType.enumValues)[number], unknown>,
});

export const PlanWarningCodeEnum = builder.enumType('PlanWarningCode', {
  description: 'What a plan warning is about.',
  values: {
    GPU_MODEL_NOT_REPORTED: { description: "No host has ever reported a GPU of the plan's vendor (and product): its VMs will not fit until one does." },
  } satisfies Record<(typeof PLAN_WARNING_CODES)[number], unknown>,
});

const PlanWarningRef = builder.objectRef<PlanWarning>('PlanWarning').implement({
  description: 'Something about a saved plan an operator should know: it is valid, but may not do what they expect.',
  fields: (t) => ({
    code: t.expose('code', { type: PlanWarningCodeEnum, description: 'What the warning is about.' }),
    message: t.exposeString('message', { description: 'The warning, for people.' }),
  }),
});

export const ServicePlan = builder.drizzleNode('servicePlans', {
  name: 'ServicePlan',
  description: 'A size of VM to provision: cores, memory, disk and, for KVM, a GPU count.',
  id: { column: (p) => p.id },
  select: {},
  fields: (t) => ({
    name: t.exposeString('name', { description: 'Unique plan name.' }),
    provisionType: t.expose('provisionType', { type: ProvisionTypeEnum, description: 'KVM, LXC or BARE_METAL.' }),
    cores: t.exposeInt('cores', { description: 'Virtual CPUs.' }),
    memoryMb: t.exposeInt('memoryMb', { description: 'Memory in MiB.' }),
    diskGb: t.exposeInt('diskGb', { description: 'Disk in GiB.' }),
    gpuCount: t.exposeInt('gpuCount', { description: 'Passthrough GPUs each VM gets (KVM only).' }),
    gpuVendorId: t.exposeString('gpuVendorId', { nullable: true, description: 'Only GPUs of this vendor; null means any GPU.' }),
    gpuProductId: t.exposeString('gpuProductId', { nullable: true, description: 'Only GPUs of this product; null means any of the vendor.' }),
    vmCount: t.relatedCount('vms', { description: 'Live VMs using the plan.', where: ne(vms.status, 'DELETED') }),
    warnings: t.field({
      type: [PlanWarningRef],
      description: 'What an operator should know about the plan as it is now (createServicePlan and updateServicePlan return it too): e.g. a GPU model no host has reported. The plan is saved regardless.',
      select: { columns: { gpuVendorId: true, gpuProductId: true, gpuCount: true }, extras: { gpuModelReported: (plan) => gpuModelReported(plan) } },
      resolve: (plan) => planWarnings(plan, plan.gpuModelReported),
    }),
  }),
});

builder.queryFields((t) => ({
  servicePlans: t.drizzleField({
    type: ['servicePlans'],
    description: 'All service plans, by name.',
    resolve: (query, _root, _args, ctx) => ctx.db.query.servicePlans.findMany(query({ orderBy: { name: 'asc' } })),
  }),
}));

const DeleteServicePlanSuccess = builder.objectRef<PlanRow>('DeleteServicePlanSuccess').implement({
  description: 'The plan was deleted.',
  fields: (t) => ({
    deletedId: t.id({ description: 'Global ID the plan had.', resolve: (p) => encodeGlobalID('ServicePlan', p.id) }),
    name: t.exposeString('name', { description: 'Name the plan had.' }),
  }),
});

const ServicePlanChange = builder.objectRef<LiveEvent<'plan:changed'>>('ServicePlanChange').implement({
  description: 'A service plan was created, changed or deleted.',
  fields: (t) => ({
    cursor: t.string({ description: CURSOR_DESCRIPTION, resolve: (change) => formatCursor(change.seq) }),
    planId: t.id({ description: 'Global ID of the plan.', resolve: (change) => encodeGlobalID('ServicePlan', change.payload.id) }),
    plan: t.field({ type: ServicePlan, nullable: true, description: 'The plan as it is now; null once deleted.', resolve: (change) => change.row }),
  }),
});

builder.subscriptionFields((t) => ({
  servicePlanChanged: t.field({
    type: ServicePlanChange,
    description: 'A service plan was created, changed or deleted.',
    args: { after: t.arg.string({ required: false, description: AFTER_DESCRIPTION }) },
    subscribe: (_root, args, ctx) => ctx.live.watch({ topic: 'plan:changed', scope: null, after: args.after }),
    resolve: changeOf,
  }),
}));

const planErrors = [ValidationError, NotFoundError];

builder.mutationFields((t) => ({
  createServicePlan: t.withAuth({ admin: true }).fieldWithInput({
    type: ServicePlan,
    description: 'Create a service plan. Admin.',
    input: {
      name: t.input.string({ required: true, description: `Unique, 1 to ${LABEL_MAX_LENGTH} characters.` }),
      provisionType: t.input.field({ type: ProvisionTypeEnum, required: true, description: 'KVM, LXC or BARE_METAL.' }),
      cores: t.input.int({ required: true, description: `${describeRange(PLAN_LIMITS.cores)}.` }),
      memoryMb: t.input.int({ required: true, description: `${describeRange(PLAN_LIMITS.memoryMb)}.` }),
      diskGb: t.input.int({ required: true, description: `${describeRange(PLAN_LIMITS.diskGb)}.` }),
      gpuCount: t.input.int({ required: false, description: `${describeRange(PLAN_LIMITS.gpuCount)}, KVM only. Default 0.` }),
      gpuVendorId: t.input.string({ required: false, description: 'Restrict GPUs to this vendor (4 hex digits).' }),
      gpuProductId: t.input.string({ required: false, description: 'Restrict GPUs to this product (4 hex digits; needs the vendor).' }),
    },
    errors: { types: planErrors },
    resolve: (_root, { input }, ctx) =>
      createServicePlan(ctx, {
        ...input,
        gpuCount: input.gpuCount ?? 0,
        gpuVendorId: input.gpuVendorId ?? null,
        gpuProductId: input.gpuProductId ?? null,
      }),
  }),
  updateServicePlan: t.withAuth({ admin: true }).fieldWithInput({
    type: ServicePlan,
    description: 'Change a service plan. Existing VMs keep the size they were provisioned with. Admin.',
    input: {
      planId: t.input.id({ required: true, description: 'Global ID of the plan.' }),
      name: t.input.string({ required: false, description: 'New name.' }),
      provisionType: t.input.field({ type: ProvisionTypeEnum, required: false, description: 'New provision type.' }),
      cores: t.input.int({ required: false, description: 'New cores.' }),
      memoryMb: t.input.int({ required: false, description: 'New memory in MiB.' }),
      diskGb: t.input.int({ required: false, description: 'New disk in GiB.' }),
      gpuCount: t.input.int({ required: false, description: 'New GPU count.' }),
      gpuVendorId: t.input.string({ required: false, description: 'New GPU vendor filter; empty string clears it.' }),
      gpuProductId: t.input.string({ required: false, description: 'New GPU product filter; empty string clears it.' }),
    },
    errors: { types: planErrors },
    resolve: (_root, { input }, ctx) => {
      const { planId, ...fields } = input;
      const changes = Object.fromEntries(Object.entries(fields).filter(([, value]) => value !== undefined && value !== null));
      return updateServicePlan(ctx, idOf('ServicePlan', String(planId)), changes);
    },
  }),
  deleteServicePlan: t.withAuth({ admin: true }).fieldWithInput({
    type: DeleteServicePlanSuccess,
    description: 'Delete a service plan; refused while live VMs use it. Admin.',
    input: { planId: t.input.id({ required: true, description: 'Global ID of the plan.' }) },
    errors: { types: [NotFoundError, PlanInUseError] },
    resolve: (_root, { input }, ctx) => deleteServicePlan(ctx, idOf('ServicePlan', String(input.planId))),
  }),
}));
