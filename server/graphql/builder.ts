import SchemaBuilder from '@pothos/core';
import DrizzlePlugin from '@pothos/plugin-drizzle';
import ErrorsPlugin from '@pothos/plugin-errors';
import RelayPlugin from '@pothos/plugin-relay';
import WithInputPlugin from '@pothos/plugin-with-input';
import { getTableConfig } from 'drizzle-orm/pg-core';
import { DateTimeResolver } from 'graphql-scalars';
import { relations, type Relations } from '../db/relations.ts';
import type { Context } from '../context.ts';

const capitalize = (name: string) => `${name.charAt(0).toUpperCase()}${name.slice(1)}`;

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
    nodesOnConnection: { description: 'The nodes of this page, without edges.' },
    idFieldOptions: { description: 'Global ID: pass it to node(id:) or to mutations.' },
    nodeTypeOptions: { description: 'An object with a global ID.' },
    pageInfoTypeOptions: { description: 'Where this page sits in the whole list.' },
    hasNextPageFieldOptions: { description: 'More items follow this page.' },
    hasPreviousPageFieldOptions: { description: 'More items precede this page.' },
    startCursorFieldOptions: { description: 'Cursor of the first item; pass as `before` for the previous page.' },
    endCursorFieldOptions: { description: 'Cursor of the last item; pass as `after` for the next page.' },
    cursorFieldOptions: { description: 'Opaque position of this item.' },
    nodeFieldOptions: { description: 'The item.' },
    edgesFieldOptions: { description: 'The items of this page, with their cursors.' },
    pageInfoFieldOptions: { description: 'Position of this page.' },
    beforeArgOptions: { description: 'Items before this cursor.' },
    afterArgOptions: { description: 'Items after this cursor.' },
    firstArgOptions: { description: 'At most this many items from the start (default 20, at most 500).' },
    lastArgOptions: { description: 'At most this many items from the end.' },
    defaultConnectionTypeOptions: { description: 'A page of a list (Relay connection).' },
    defaultEdgeTypeOptions: { description: 'An item of a page and its cursor.' },
    // Relay: an ID that names nothing (deleted, or never existed) resolves to null, not an error.
    nodeQueryOptions: {
      description: 'Any object by its global ID; null when nothing has that ID.',
      args: { id: { description: 'A global ID.' } },
      resolve: (_root, { id }, _ctx, _info, resolveNode) => loadOrNull(id, resolveNode),
    },
    nodesQueryOptions: {
      description: 'Objects by their global IDs, in order; null for each ID that names nothing.',
      args: { ids: { description: 'Global IDs.' } },
      resolve: (_root, { ids }, _ctx, _info, resolveNodes) => ids.map((id) => loadOrNull(id, async (one) => (await resolveNodes([one]))[0])),
    },
  },
  withInput: {
    typeOptions: {
      name: ({ fieldName }) => `${capitalize(fieldName)}Input`,
      description: 'The arguments of the mutation of the same name.',
    },
    argOptions: { description: 'What to do.' },
  },
  errors: {
    directResult: true,
    defaultUnionOptions: {
      name: ({ fieldName }) => `${capitalize(fieldName)}Result`,
      description: 'The outcome of the field of the same name: its success type, or one of the typed errors it can refuse with.',
    },
  },
});

builder.addScalarType('DateTime', DateTimeResolver, {});
builder.queryType({ description: 'Read the state of the cluster.' });
builder.mutationType({ description: 'Change the state of the cluster. Expected failures come back as typed error members of each result union.' });
builder.subscriptionType({ description: 'Live changes, delivered only after they are committed.' });
