import type { Cache, Variables } from '@urql/exchange-graphcache';

// Helpers for the subscription updaters: an event names one entity, and these put it into (or
// take it out of) every cached list it belongs to, so a page shows the change without asking
// the server for the whole list again.

/** An argument a cached field was read with, when it is a string. */
export function stringArg(args: Variables | null | undefined, name: string): string | null {
  const value = args?.[name];
  return typeof value === 'string' ? value : null;
}

/** An argument a cached field was read with, when it is a nested input object. */
export function objectArg(args: Variables | null | undefined, name: string): Variables | null {
  const value = args?.[name];
  return value && typeof value === 'object' && !Array.isArray(value) ? value : null;
}

/** A string field of a cached entity (for ordering), or '' when the cache does not hold it. */
export function stringField(cache: Cache, key: string, field: string): string {
  const value = cache.resolve(key, field);
  return typeof value === 'string' ? value : '';
}

/**
 * Where `key` goes in an ordered list of entity keys: out if it no longer `belongs`, otherwise
 * before the first item `before` says it precedes. A list already at `limit` (a first page) does
 * not grow past it; an item that would land past its end is on a later page. Null when the list
 * stays as it is.
 */
export function placed(list: readonly string[], key: string, belongs: boolean, before: (other: string) => boolean, limit: number | null = null): string[] | null {
  const rest = list.filter((k) => k !== key);
  let next = rest;
  if (belongs) {
    const at = rest.findIndex(before);
    const index = at === -1 ? rest.length : at;
    if (limit === null || index < limit) {
      next = [...rest.slice(0, index), key, ...rest.slice(index)];
      if (limit !== null) next = next.slice(0, limit);
    }
  }
  const same = next.length === list.length && next.every((k, i) => k === list[i]);
  return same ? null : next;
}

function linksOf(cache: Cache, entity: string, fieldKey: string): string[] | null {
  const value = cache.resolve(entity, fieldKey);
  return Array.isArray(value) ? value.filter((k): k is string => typeof k === 'string') : null;
}

/** Places `key` in every cached list field `field` of `entity` (one per set of arguments). */
export function placeInLists(cache: Cache, entity: string, field: string, key: string, belongs: (args: Variables | null) => boolean, before: (other: string) => boolean) {
  for (const info of cache.inspectFields(entity)) {
    if (info.fieldName !== field) continue;
    const list = linksOf(cache, entity, info.fieldKey);
    const next = list && placed(list, key, belongs(info.arguments), before);
    if (next) cache.link(entity, info.fieldKey, next);
  }
}

/** Arguments that make a page other than the first; the console reads only first pages. */
const LATER_PAGE = ['after', 'before', 'last'];

/**
 * Places `key` in the nodes of every cached Relay connection `field` of `entity` (`'Query'` or an
 * entity key; one page per set of arguments), honouring its `first`.
 *
 * An item that belongs but does not fit on a full page (it pushes the last one off, or sorts past
 * the end) means more items follow: a page that said none did is dropped, for its query to read it
 * again. So is a page it cannot place the item in: one with no nodes, a later page, or one
 * `belongs` cannot decide for (it answers null). A page that says more follow keeps saying so when
 * an item leaves it; it cannot see whether the last item past its end left too.
 */
export function placeInConnections(cache: Cache, entity: string, field: string, key: string, belongs: (args: Variables | null) => boolean | null, before: (other: string) => boolean) {
  for (const info of cache.inspectFields(entity)) {
    if (info.fieldName !== field) continue;
    const connection = cache.resolve(entity, info.fieldKey);
    if (typeof connection !== 'string') continue;
    const is = belongs(info.arguments);
    const nodes = linksOf(cache, connection, 'nodes');
    if (is === null || nodes === null || LATER_PAGE.some((name) => info.arguments?.[name] != null)) {
      cache.invalidate(entity, info.fieldKey);
      continue;
    }
    const first = typeof info.arguments?.first === 'number' ? info.arguments.first : null;
    const next = placed(nodes, key, is, before, first);
    if (next) cache.link(connection, 'nodes', next);

    const pageInfo = cache.resolve(connection, 'pageInfo');
    const more = typeof pageInfo === 'string' ? cache.resolve(pageInfo, 'hasNextPage') : null;
    const overflows = is && !nodes.includes(key) && first !== null && nodes.length >= first;
    if (overflows && more === false) cache.invalidate(entity, info.fieldKey);
  }
}

/** The entity keys in the nodes of every cached connection `field` of `entity`, whatever its arguments. */
export function connectionNodes(cache: Cache, entity: string, field: string): Set<string> {
  const keys = new Set<string>();
  for (const info of cache.inspectFields(entity)) {
    const connection = info.fieldName === field ? cache.resolve(entity, info.fieldKey) : null;
    if (typeof connection === 'string') for (const key of linksOf(cache, connection, 'nodes') ?? []) keys.add(key);
  }
  return keys;
}

/** The entity keys in the nodes of every cached connection `Query.field` and every `Query.single` link. */
export function cachedEntities(cache: Cache, field: string, single: string): Set<string> {
  const keys = connectionNodes(cache, 'Query', field);
  for (const info of cache.inspectFields('Query')) {
    const value = info.fieldName === single ? cache.resolve('Query', info.fieldKey) : null;
    if (typeof value === 'string') keys.add(value);
  }
  return keys;
}

/** Drops every cached `field` of `entity`, whatever its arguments: pages showing it read it again. */
export function invalidateField(cache: Cache, entity: string, field: string) {
  for (const info of cache.inspectFields(entity)) {
    if (info.fieldName === field) cache.invalidate(entity, info.fieldKey);
  }
}
