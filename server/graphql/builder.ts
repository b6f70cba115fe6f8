import SchemaBuilder from '@pothos/core';
import ComplexityPlugin from '@pothos/plugin-complexity';
import DrizzlePlugin from '@pothos/plugin-drizzle';
import ErrorsPlugin from '@pothos/plugin-errors';
import RelayPlugin from '@pothos/plugin-relay';
import ScopeAuthPlugin, { AuthScopeFailureType, type AuthFailure } from '@pothos/plugin-scope-auth';
import WithInputPlugin from '@pothos/plugin-with-input';
import { getTableConfig } from 'drizzle-orm/pg-core';
import { DateTimeResolver } from 'graphql-scalars';
import { relations, type Relations } from '../db/relations.ts';
import type { Context } from '../context.ts';
import { roleAtLeast, type AgentPrincipal, type Principal, type Role, type UserPrincipal } from '../domain/auth.ts';
import { NotAuthorizedError } from '../domain/errors.ts';
import { fieldCost, PAGE_ITEMS_COST, PAGE_SIZE } from './query-cost.ts';

const SCOPE_ROLE: Record<string, Role> = { viewer: 'VIEWER', operator: 'OPERATOR', admin: 'ADMIN' };

function firstScope(failure: AuthFailure): string | null {
  if (failure.kind === AuthScopeFailureType.AuthScope) return failure.scope;
  if (failure.kind === AuthScopeFailureType.AnyAuthScopes || failure.kind === AuthScopeFailureType.AllAuthScopes) {
    for (const child of failure.failures) {
      const scope = firstScope(child);
      if (scope) return scope;
    }
  }
  return null;
}

/** Says why a call was refused and what would make it pass. */
function refusal(principal: Principal, field: string, scope: string | null): string {
  if (principal.kind === 'anonymous') {
    return principal.rejected ?? 'Sign in, or send an API token as "Authorization: Bearer <token>"';
  }
  if (scope === 'agent') return `${field} is for host agents, with their host token`;
  if (principal.kind === 'agent') return `Host agents may only report inventory, heartbeat and carry out their own host's operations (not ${field})`;
  if (scope === 'signedIn') return `${field} needs a console session, not an API token`;
  const needed = scope ? SCOPE_ROLE[scope] : undefined;
  return needed ? `${field} needs the ${needed} role; this credential has ${principal.role}` : `Not allowed: ${field}`;
}

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

type UserContext = Context & { principal: UserPrincipal };

// The builder and its plugins only; every type lives in its domain file.
export const builder = new SchemaBuilder<{
  Context: Context;
  DrizzleRelations: Relations;
  AuthScopes: { viewer: boolean; operator: boolean; admin: boolean; agent: boolean; signedIn: boolean };
  // What a field's resolver may rely on once `t.withAuth(scopes)` has admitted the call.
  AuthContexts: {
    viewer: UserContext;
    operator: UserContext;
    admin: UserContext;
    signedIn: UserContext;
    agent: Context & { principal: AgentPrincipal };
  };
  Scalars: { DateTime: { Input: Date; Output: Date } };
  DefaultFieldNullability: false;
}>({
  // Errors first: it wraps the others, so an authorization refusal becomes a typed union member.
  plugins: [ErrorsPlugin, ScopeAuthPlugin, RelayPlugin, WithInputPlugin, DrizzlePlugin, ComplexityPlugin],
  defaultFieldNullability: false,
  scopeAuth: {
    authorizeOnSubscribe: true,
    authScopes: (ctx) => {
      const role = ctx.principal.kind === 'user' ? ctx.principal.role : null;
      return {
        viewer: role !== null,
        operator: role !== null && roleAtLeast(role, 'OPERATOR'),
        admin: role === 'ADMIN',
        agent: ctx.principal.kind === 'agent',
        signedIn: ctx.principal.kind === 'user' && ctx.principal.credential.kind === 'session',
      };
    },
    unauthorizedError: (_parent, ctx, info, result) =>
      new NotAuthorizedError(refusal(ctx.principal, `${info.parentType.name}.${info.fieldName}`, firstScope(result.failure))),
  },
  drizzle: {
    client: (ctx) => ctx.db,
    getTableConfig,
    relations,
    defaultConnectionSize: PAGE_SIZE.default,
    maxConnectionSize: PAGE_SIZE.max,
  },
  // Each field's cost; the limit is checked per request, before anything runs (query-cost-limit.ts).
  complexity: { fieldComplexity: fieldCost },
  relay: {
    clientMutationId: 'omit',
    cursorType: 'String',
    nodesOnConnection: { description: 'The nodes of this page, without edges.', complexity: PAGE_ITEMS_COST },
    idFieldOptions: { description: 'Global ID: pass it to node(id:) or to mutations.' },
    nodeTypeOptions: { description: 'An object with a global ID.' },
    pageInfoTypeOptions: { description: 'Where this page sits in the whole list.' },
    hasNextPageFieldOptions: { description: 'More items follow this page.' },
    hasPreviousPageFieldOptions: { description: 'More items precede this page.' },
    startCursorFieldOptions: { description: 'Cursor of the first item; pass as `before` for the previous page.' },
    endCursorFieldOptions: { description: 'Cursor of the last item; pass as `after` for the next page.' },
    cursorFieldOptions: { description: 'Opaque position of this item.' },
    nodeFieldOptions: { description: 'The item.' },
    edgesFieldOptions: { description: 'The items of this page, with their cursors.', complexity: PAGE_ITEMS_COST },
    pageInfoFieldOptions: { description: 'Position of this page.' },
    beforeArgOptions: { description: 'Items before this cursor.' },
    afterArgOptions: { description: 'Items after this cursor.' },
    firstArgOptions: { description: `At most this many items from the start (default ${PAGE_SIZE.default}, at most ${PAGE_SIZE.max}).` },
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
    defaultTypes: [NotAuthorizedError],
    defaultUnionOptions: {
      name: ({ fieldName }) => `${capitalize(fieldName)}Result`,
      description: 'The outcome of the field of the same name: its success type, or one of the typed errors it can refuse with.',
    },
  },
});

/**
 * Options of host agents' fields, beside `t.withAuth({ agent: true })`: an agent holds no user
 * role, so the root type's default role must not apply to it.
 */
export const FOR_AGENTS = { skipTypeScopes: true } as const;

builder.addScalarType('DateTime', DateTimeResolver, {});
// Default roles per root type; fields that differ say so themselves.
builder.queryType({ description: 'Read the state of the cluster (any signed-in role).', authScopes: { viewer: true } });
builder.mutationType({
  description: 'Change the state of the cluster (operator role unless a field says otherwise). Expected failures come back as typed error members of each result union.',
  authScopes: { operator: true },
});
builder.subscriptionType({ description: 'Live changes, delivered only after they are committed (any signed-in role).', authScopes: { viewer: true } });
