import { cacheExchange, type KeyingConfig } from '@urql/exchange-graphcache';
import type { IntrospectionQuery } from 'graphql';
import { deviceChanged } from '../devices/device-events.ts';
import { hostChanged } from '../hosts/host-events.ts';
import { vmChanged } from '../vms/vm-events.ts';
import { operationChanged } from '../operations/operation-events.ts';
import { servicePlanChanged } from '../plans/plan-events.ts';
import { auditLogged } from '../audit/audit-events.ts';

/**
 * Entities are keyed by their global `id` (the cache's default). Every other object type (event
 * wrappers, mutation payloads, connections, the pool's counts) is data of its parent, derived from
 * the schema so a new type needs no entry here.
 */
export function embeddedTypes(schema: IntrospectionQuery): KeyingConfig {
  const roots = new Set([schema.__schema.queryType.name, schema.__schema.mutationType?.name, schema.__schema.subscriptionType?.name]);
  const keys: KeyingConfig = {};
  for (const type of schema.__schema.types) {
    if (type.kind === 'OBJECT' && !roots.has(type.name) && !type.name.startsWith('__') && !type.fields.some((f) => f.name === 'id')) keys[type.name] = () => null;
  }
  return keys;
}

/**
 * The console's normalized cache: a query, a mutation payload or a subscription event that
 * carries an entity updates it everywhere it is shown, and the updaters put new entities into
 * (or take them out of) the cached lists they belong to.
 */
export function normalizedCache(schema: IntrospectionQuery) {
  return cacheExchange({
    schema,
    keys: embeddedTypes(schema),
    updates: {
      Subscription: { deviceChanged, hostChanged, vmChanged, operationChanged, servicePlanChanged, auditLogged },
    },
  });
}
