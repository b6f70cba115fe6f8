import { and, count, eq, ne, sql, type SQL, type SQLWrapper } from 'drizzle-orm';
import type { Queryable } from '../db/client.ts';
import { devices, servicePlans, vms } from '../db/schema/index.ts';
import { isUniqueViolation } from '../db/errors.ts';
import { inTransaction } from '../db/transaction.ts';
import { NotFoundError, PlanInUseError, ValidationError } from './errors.ts';
import type { Services } from './services.ts';
import { planProblems, type PlanRules } from '../../protocol/rules.ts';

export type PlanRow = typeof servicePlans.$inferSelect;

export type PlanInput = PlanRules;

export const PLAN_WARNING_CODES = ['GPU_MODEL_NOT_REPORTED'] as const;

/** Something about a saved plan an operator should know: it is valid, but may not do what they expect. */
export interface PlanWarning {
  code: (typeof PLAN_WARNING_CODES)[number];
  message: string;
}

/**
 * Whether any host has ever reported a GPU of the plan's model (its vendor, and its product when
 * given): true for a plan without one. Devices are never deleted when they vanish (MISSING),
 * so a row is a report. One probe of devices_model_idx.
 */
export function gpuModelReported(plan: { gpuVendorId: SQLWrapper; gpuProductId: SQLWrapper }): SQL<boolean> {
  return sql<boolean>`(${plan.gpuVendorId} is null or exists (select 1 from ${devices} where ${devices.vendorId} = ${plan.gpuVendorId}
    and (${plan.gpuProductId} is null or ${devices.productId} = ${plan.gpuProductId}) and ${devices.kind} = 'GPU'))`;
}

/** What to warn about a plan, given whether its GPU model has been reported (gpuModelReported). */
export function planWarnings(plan: Pick<PlanRow, 'gpuVendorId' | 'gpuProductId' | 'gpuCount'>, modelReported: boolean): PlanWarning[] {
  if (modelReported || !plan.gpuVendorId) return [];
  const model = plan.gpuProductId ? `GPU ${plan.gpuVendorId}:${plan.gpuProductId}` : `GPU of vendor ${plan.gpuVendorId}`;
  return [
    {
      code: 'GPU_MODEL_NOT_REPORTED',
      message: `No host has reported a ${model}; VMs of this plan${plan.gpuCount > 0 ? '' : ' (once it has a GPU count)'} will not fit until one does. Check the IDs against a host's devices.`,
    },
  ];
}

/** The plan as it is stored (name trimmed, IDs lowercase, '' for none), refused with the first rule it breaks (the table's CHECKs hold the same). */
export function validatePlan(input: PlanInput): PlanInput {
  const plan = { ...input, name: input.name.trim(), gpuVendorId: input.gpuVendorId?.toLowerCase() || null, gpuProductId: input.gpuProductId?.toLowerCase() || null };
  const [first] = Object.entries(planProblems(plan));
  if (first) throw new ValidationError(first[0], first[1]);
  return plan;
}

async function withNameCheck<T>(name: string, work: () => Promise<T>): Promise<T> {
  try {
    return await work();
  } catch (error) {
    if (isUniqueViolation(error)) throw new ValidationError('name', `A service plan named "${name}" already exists`);
    throw error;
  }
}

export async function findPlan(db: Queryable, planId: string): Promise<PlanRow> {
  const [plan] = await db.select().from(servicePlans).where(eq(servicePlans.id, planId));
  if (!plan) throw new NotFoundError('ServicePlan', planId);
  return plan;
}

/** How many live VMs use a plan. */
export async function countVmsOfPlan(db: Queryable, planId: string) {
  const [row] = await db
    .select({ n: count() })
    .from(vms)
    .where(and(eq(vms.planId, planId), ne(vms.status, 'DELETED')));
  return row?.n ?? 0;
}

export async function createServicePlan(services: Services, input: PlanInput) {
  const plan = validatePlan(input);
  return withNameCheck(plan.name, () =>
    inTransaction(services.db, async (tx, changes) => {
      const [created] = await tx.insert(servicePlans).values(plan).returning();
      changes.plan({ id: created!.id });
      return created!;
    }),
  );
}

export async function updateServicePlan(services: Services, planId: string, changes: Partial<PlanInput>) {
  return inTransaction(services.db, async (tx, bus) => {
    const [current] = await tx.select().from(servicePlans).where(eq(servicePlans.id, planId)).for('no key update');
    if (!current) throw new NotFoundError('ServicePlan', planId);
    const plan = validatePlan({ ...current, ...changes });
    return withNameCheck(plan.name, async () => {
      const [updated] = await tx.update(servicePlans).set(plan).where(eq(servicePlans.id, planId)).returning();
      bus.plan({ id: planId });
      return updated!;
    });
  });
}

export async function deleteServicePlan(services: Services, planId: string) {
  return inTransaction(services.db, async (tx, changes) => {
    const [plan] = await tx.select().from(servicePlans).where(eq(servicePlans.id, planId)).for('no key update');
    if (!plan) throw new NotFoundError('ServicePlan', planId);
    const inUse = await countVmsOfPlan(tx, planId);
    if (inUse > 0) throw new PlanInUseError(inUse);
    // Deleted VMs keep their history but let go of the plan.
    await tx.update(vms).set({ planId: null }).where(and(eq(vms.planId, planId), eq(vms.status, 'DELETED')));
    await tx.delete(servicePlans).where(eq(servicePlans.id, planId));
    changes.plan({ id: planId });
    return plan;
  });
}
