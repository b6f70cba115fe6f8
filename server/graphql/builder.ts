import SchemaBuilder from '@pothos/core';
import DrizzlePlugin from '@pothos/plugin-drizzle';
import ErrorsPlugin from '@pothos/plugin-errors';
import RelayPlugin from '@pothos/plugin-relay';
import WithInputPlugin from '@pothos/plugin-with-input';
import { getTableConfig } from 'drizzle-orm/pg-core';
import { DateTimeResolver } from 'graphql-scalars';
import { relations, type Relations } from '../db/relations.ts';
import type { Context } from '../context.ts';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

async function loadOrNull<T>(id: { id: string; typename: string }, load: (id: { id: string; typename: string }) => T | Promise<T>) {
  if (!UUID.test(id.id)) return null;
  try {
    return await load(id);
  } catch (error) {
    if (error instanceof Error && /^Model \w+\(.*\) not found$/.test(error.message)) return null;
    throw error;
  }
}

// The builder and its plugins only; every type lives in its domain file.
export const builder = new SchemaBuilder<{
  Context: Context;
  DrizzleRelations: Relations;
  Scalars: { DateTime: { Input: Date; Output: Date } };
  DefaultFieldNullability: false;
}>({
  plugins: [ErrorsPlugin, RelayPlugin, WithInputPlugin, DrizzlePlugin],
  defaultFieldNullability: false,
  drizzle: {
    client: (ctx) => ctx.db,
    getTableConfig,
    relations,
    maxConnectionSize: 500,
  },
  relay: {
    clientMutationId: 'omit',
    cursorType: 'String',
    nodesOnConnection: true,
    // Relay: an ID that names nothing (deleted, or never existed) resolves to null, not an error.
    nodeQueryOptions: { resolve: (_root, { id }, _ctx, _info, resolveNode) => loadOrNull(id, resolveNode) },
    nodesQueryOptions: {
      resolve: (_root, { ids }, _ctx, _info, resolveNodes) => ids.map((id) => loadOrNull(id, async (one) => (await resolveNodes([one]))[0])),
    },
  },
  withInput: {
    typeOptions: {
      name: ({ fieldName }) => `${fieldName.charAt(0).toUpperCase()}${fieldName.slice(1)}Input`,
    },
  },
  errors: {
    directResult: true,
    defaultUnionOptions: {
      name: ({ fieldName }) => `${fieldName.charAt(0).toUpperCase()}${fieldName.slice(1)}Result`,
    },
  },
});

builder.addScalarType('DateTime', DateTimeResolver, {});
builder.queryType({ description: 'Read the state of the cluster.' });
builder.mutationType({ description: 'Change the state of the cluster. Expected failures come back as typed error members of each result union.' });
builder.subscriptionType({ description: 'Live changes, delivered only after they are committed.' });
