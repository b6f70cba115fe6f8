import type { UpdateResolver } from '@urql/exchange-graphcache';
import { graphql, type ResultOf } from '../../../../protocol/graphql.ts';
import { HostFactsFields } from './fragments.ts';
import { connectionNodes, invalidateField, placeInConnections, stringArg, stringField } from '../api/cache-lists.ts';

/** Every host change (status, facts), with what the host pages show of a host itself. */
export const HostEvents = graphql(
  `
    subscription HostEvents($after: String) {
      hostChanged(after: $after) { cursor host { ...HostFactsFields } }
    }
  `,
  [HostFactsFields],
);

/** A new host joins the host lists (by name) and its cluster; a host's status decides what fits. */
export const hostChanged: UpdateResolver<ResultOf<typeof HostEvents>> = ({ hostChanged: { host } }, _args, cache) => {
  const key = cache.keyOfEntity({ __typename: 'Host', id: host.id });
  const clusterKey = cache.keyOfEntity({ __typename: 'Cluster', id: host.cluster.id });
  if (!key || !clusterKey) return;
  const before = (other: string) => host.name < stringField(cache, other, 'name');
  placeInConnections(
    cache,
    'Query',
    'hosts',
    key,
    (args) => (stringArg(args, 'clusterId') ?? host.cluster.id) === host.cluster.id && (stringArg(args, 'status') ?? host.status) === host.status,
    before,
  );
  placeInConnections(cache, clusterKey, 'hosts', key, () => true, before);
  invalidateField(cache, 'Query', 'capacity');
  // A host's status decides what its devices offer (nothing while it is offline): the pages
  // showing their actions read them again.
  for (const device of connectionNodes(cache, key, 'devices')) invalidateField(cache, device, 'actions');
};
