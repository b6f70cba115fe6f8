import type { UpdateResolver, Variables } from '@urql/exchange-graphcache';
import { graphql, type ResultOf } from '../../../../protocol/graphql.ts';
import { cachedEntities, objectArg, placeInConnections, stringArg, stringField } from '../api/cache-lists.ts';
import { OperationRowFields } from './fragments.ts';

/** Every operation queued, started or finished, with what an operation row shows. */
export const OperationEvents = graphql(
  `
    subscription OperationEvents($after: String) {
      operationChanged(after: $after) { cursor operation { ...OperationRowFields } }
    }
  `,
  [OperationRowFields],
);

type OperationEvent = ResultOf<typeof OperationEvents>['operationChanged']['operation'];

/**
 * Whether an operation passes an `operations(filter:)` a page asked for; null when the event
 * cannot tell (it names a device the operation's first page of devices does not show).
 */
export function matchesFilter(operation: OperationEvent, filter: Variables | null): boolean | null {
  const hostId = stringArg(filter, 'hostId');
  const vmId = stringArg(filter, 'vmId');
  const deviceId = stringArg(filter, 'deviceId');
  const status = filter?.status;
  const matches =
    (hostId === null || hostId === operation.host.id) &&
    (vmId === null || vmId === operation.vm?.id) &&
    (!Array.isArray(status) || status.some((s) => s === operation.status));
  if (!matches || deviceId === null) return matches;
  const { nodes, pageInfo } = operation.devices;
  return nodes.some((d) => d.id === deviceId) || (pageInfo.hasNextPage ? null : false);
}

/** A new operation goes to the top of every list it matches; one that no longer matches (an "in flight" list) leaves it. */
export const operationChanged: UpdateResolver<ResultOf<typeof OperationEvents>> = ({ operationChanged: { operation } }, _args, cache) => {
  const key = cache.keyOfEntity({ __typename: 'Operation', id: operation.id });
  if (!key) return;
  placeInConnections(cache, 'Query', 'operations', key, (args) => matchesFilter(operation, objectArg(args, 'filter')), (other) => operation.createdAt > stringField(cache, other, 'createdAt'));
  // One that just left its host's queue (picked up, or failed unpicked) moved the ones behind it
  // up: their places are read again.
  const leftQueue = operation.status === 'RUNNING' || (operation.status === 'FAILED' && operation.startedAt === null);
  if (leftQueue) {
    for (const other of cachedEntities(cache, 'operations', 'operation')) {
      const host = cache.resolve(other, 'host');
      const sameHost = typeof host === 'string' && cache.resolve(host, 'id') === operation.host.id;
      if (other !== key && sameHost && cache.resolve(other, 'status') === 'PENDING') cache.invalidate(other, 'queuePosition');
    }
  }
};
