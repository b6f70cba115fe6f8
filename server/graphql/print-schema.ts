// Writes schema.graphql from the builder: `npm run schema:print`. A test fails when they differ.
import { writeFileSync } from 'node:fs';
import { printSchema, lexicographicSortSchema } from 'graphql';
import { buildSchema } from './schema.ts';

export const schemaPath = new URL('../../schema.graphql', import.meta.url);

export function printedSchema() {
  return `${printSchema(lexicographicSortSchema(buildSchema()))}\n`;
}

if (import.meta.url === `file://${process.argv[1]}`) {
  writeFileSync(schemaPath, printedSchema());
  console.log(`wrote ${schemaPath.pathname}`);
}
