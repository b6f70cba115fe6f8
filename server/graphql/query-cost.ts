import type { FieldComplexityValue } from '@pothos/plugin-complexity';
import { GraphQLError, isListType, isNonNullType, type GraphQLArgument, type GraphQLOutputType } from 'graphql';

/** Items a connection returns when the query does not say (`first`/`last`), and the most it may ask for. */
export const PAGE_SIZE = { default: 20, max: 500 } as const;

/**
 * The most a query may cost before it runs: roughly how many values it can produce. Set so the
 * console's heaviest page (200 hosts with their device counts) and the benchmark's dashboard
 * (500 hosts with their 8 devices) fit, and a page nested in a page of the same size does not.
 */
export const MAX_QUERY_COST = 50_000;

/** What a plain list (fixed and small, or bounded by its parent: a mutation's devices) is guessed to hold. */
const LIST_GUESS = 10;

function isList(type: GraphQLOutputType): boolean {
  return isListType(type) || (isNonNullType(type) && isListType(type.ofType));
}

function sizeAsked(args: Record<string, unknown>): number | null {
  for (const name of ['first', 'last']) {
    const value = args[name];
    if (typeof value === 'number') return value;
  }
  return null;
}

/**
 * The cost of one field, from the arguments after variables are read: a page multiplies what it
 * selects by the size it asks for (the default page when it does not say), `nodes(ids:)` by how
 * many IDs it names, any other list by a guess. Lists that grow with the fleet are pages, so a
 * query's cost bounds the rows it can read.
 */
export function fieldCost(args: Record<string, unknown>, _context: unknown, field: { args: readonly GraphQLArgument[]; type: GraphQLOutputType }): FieldComplexityValue {
  if (field.args.some((arg) => arg.name === 'first' || arg.name === 'last')) {
    const asked = sizeAsked(args) ?? PAGE_SIZE.default;
    return { field: 1, multiplier: Math.min(Math.max(asked, 0), PAGE_SIZE.max) };
  }
  const ids = args['ids'];
  if (Array.isArray(ids)) return { field: 1, multiplier: ids.length };
  return isList(field.type) ? { field: 1, multiplier: LIST_GUESS } : 1;
}

/**
 * What of a request's variables fieldCost can read: a top-level variable is an argument's whole
 * value, so only numbers (`first: $n`) and list lengths (`ids: $ids`) change a cost; strings,
 * booleans and input objects never do. Two requests of one document with the same key cost the
 * same, so the cost can be computed once for both.
 */
export function costKey(variables: Readonly<Record<string, unknown>>): string {
  let key = '';
  for (const [name, value] of Object.entries(variables)) {
    if (typeof value === 'number') key += `${name}=${value};`;
    else if (Array.isArray(value)) key += `${name}#${value.length};`;
  }
  return key;
}

/** The items of a page are counted once, by the page's own multiplier. */
export const PAGE_ITEMS_COST: FieldComplexityValue = { field: 0, multiplier: 1 };

/** Refusal of a query over MAX_QUERY_COST, before anything of it runs. */
export function queryTooCostly(cost: number): GraphQLError {
  return new GraphQLError(
    `This query could produce about ${cost} values, over the limit of ${MAX_QUERY_COST}: ask for smaller pages (first:) or fewer nested lists, and page through the rest`,
    { extensions: { code: 'QUERY_TOO_COSTLY', cost, maxCost: MAX_QUERY_COST } },
  );
}
