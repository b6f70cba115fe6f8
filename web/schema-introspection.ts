import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { buildSchema, introspectionFromSchema, type IntrospectionQuery } from 'graphql';
import type { Plugin } from 'vite';

const MODULE = 'virtual:schema-introspection';
const schemaFile = join(import.meta.dirname, '..', 'schema.graphql');

/** schema.graphql as the normalized cache reads it; descriptions dropped, the cache never reads them. */
export function readIntrospection(): IntrospectionQuery {
  return introspectionFromSchema(buildSchema(readFileSync(schemaFile, 'utf8')), { descriptions: false });
}

/**
 * The normalized cache needs the schema at run time (which types a union or interface may hold,
 * which fields are nullable), so `virtual:schema-introspection` derives it from schema.graphql at
 * build time instead of anyone writing it by hand.
 */
export function schemaIntrospection(): Plugin {
  return {
    name: 'passthru-schema-introspection',
    resolveId: (id) => (id === MODULE ? `\0${MODULE}` : null),
    load(id) {
      if (id !== `\0${MODULE}`) return null;
      this.addWatchFile(schemaFile);
      return `export default ${JSON.stringify(readIntrospection())};`;
    },
  };
}
