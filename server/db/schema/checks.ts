import { sql, type SQL, type SQLWrapper } from 'drizzle-orm';
import type { PatternSource, Range } from '../../../protocol/rules.ts';

// Pieces of CHECK constraints built from protocol/rules.ts, so the database holds the very rules the
// server, the console and the agent check. A CHECK is DDL: its values are written into its text
// as literals, never as parameters.

const literal = (value: string) => `'${value.replaceAll("'", "''")}'`;

export const matches = (column: SQLWrapper, pattern: PatternSource): SQL => sql`${column} ~ ${sql.raw(literal(pattern))}`;

export const matchesNot = (column: SQLWrapper, pattern: PatternSource): SQL => sql`${column} !~ ${sql.raw(literal(pattern))}`;

export const within = (value: SQLWrapper, { min, max }: Pick<Range, 'min' | 'max'>): SQL =>
  sql`${value} between ${sql.raw(String(min))} and ${sql.raw(String(max))}`;

export const oneOf = (column: SQLWrapper, values: readonly string[]): SQL => sql`${column} in (${sql.raw(values.map(literal).join(', '))})`;
