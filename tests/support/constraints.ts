import { sql } from 'drizzle-orm';
import type { Db } from '../../server/db/client.ts';
import { queryRows } from './snapshot.ts';

/** The constraint a driver error names: postgres.js calls the field constraint_name, PGlite constraint; drizzle wraps either as its cause. */
function constraintOf(error: unknown): string | null {
  if (typeof error !== 'object' || error === null) return null;
  if ('constraint_name' in error && typeof error.constraint_name === 'string') return error.constraint_name;
  if ('constraint' in error && typeof error.constraint === 'string') return error.constraint;
  return 'cause' in error ? constraintOf(error.cause) : null;
}

/**
 * The name of the constraint `statement` violated; otherwise what happened instead, so an
 * assertion on the name fails saying why.
 */
export async function violatedBy(statement: PromiseLike<unknown>): Promise<string> {
  try {
    await statement;
    return 'nothing: the statement succeeded';
  } catch (error) {
    return constraintOf(error) ?? `no constraint: ${error instanceof Error ? error.message : String(error)}`;
  }
}

/** A CHECK constraint as the database holds it (pg_get_constraintdef), or null when there is none of that name. */
export async function checkDefinition(db: Db, name: string): Promise<string | null> {
  const [row] = await queryRows<{ definition: string }>(
    db,
    sql`select pg_get_constraintdef(oid) as definition from pg_constraint where conname = ${name} and contype = 'c'`,
  );
  return row?.definition ?? null;
}

/** The values of a Postgres enum type, in their order. */
export async function enumLabels(db: Db, type: string): Promise<string[]> {
  const rows = await queryRows<{ label: string }>(
    db,
    sql`select enumlabel as label from pg_enum join pg_type on pg_type.oid = pg_enum.enumtypid where pg_type.typname = ${type} order by enumsortorder`,
  );
  return rows.map((row) => row.label);
}
