import { isObjectType, type GraphQLFieldResolver } from 'graphql';
import { describe, expect, it } from 'vitest';
import { useAuditTrail } from '../../server/graphql/audit.ts';
import { buildSchema } from '../../server/graphql/schema.ts';
import { createLogger } from '../../server/logger.ts';

describe('the audit trail wraps mutations only', () => {
  it('wraps each audited Mutation field once and leaves every other resolver as the schema built it', () => {
    const schema = buildSchema();
    const before = new Map<string, GraphQLFieldResolver<unknown, unknown> | undefined>();
    for (const type of Object.values(schema.getTypeMap())) {
      if (!isObjectType(type)) continue;
      for (const field of Object.values(type.getFields())) before.set(`${type.name}.${field.name}`, field.resolve);
    }

    const plugin = useAuditTrail(createLogger('silent'));
    plugin.onSchemaChange?.({ schema, replaceSchema: () => {} });
    const once = Object.values(schema.getMutationType()?.getFields() ?? {}).map((field) => field.resolve);
    // Yoga may announce the same schema again: nothing is wrapped twice.
    plugin.onSchemaChange?.({ schema, replaceSchema: () => {} });
    expect(Object.values(schema.getMutationType()?.getFields() ?? {}).map((field) => field.resolve)).toEqual(once);

    const wrapped: string[] = [];
    for (const type of Object.values(schema.getTypeMap())) {
      if (!isObjectType(type)) continue;
      for (const field of Object.values(type.getFields())) {
        const key = `${type.name}.${field.name}`;
        if (field.resolve !== before.get(key)) wrapped.push(key);
      }
    }
    const mutations = Object.keys(schema.getMutationType()?.getFields() ?? {}).map((name) => `Mutation.${name}`);
    expect(wrapped.every((key) => key.startsWith('Mutation.'))).toBe(true);
    expect(wrapped.sort()).toEqual(mutations.filter((key) => key !== 'Mutation.heartbeat' && key !== 'Mutation.reportInventory').sort());
  });
});
