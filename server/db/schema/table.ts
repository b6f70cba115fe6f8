import { pgTableCreator } from 'drizzle-orm/pg-core';

/** pgTable with snake_case column names in the database, camelCase in TypeScript. */
export const pgTable = pgTableCreator((name) => name, 'snake_case');
