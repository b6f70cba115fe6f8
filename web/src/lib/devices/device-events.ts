import type { UpdateResolver } from '@urql/exchange-graphcache';
import { graphql, type ResultOf } from '../../../../protocol/graphql.ts';
import { cachedEntities, connectionNodes, invalidateField, placeInConnections, stringArg, stringField } from '../api/cache-lists.ts';
import { DeviceRowFields } from './fragments.ts';

/** Every device change, with what a device row shows: the cache updates the device in place. */
export const DeviceEvents = graphql(
  `
    subscription DeviceEvents($after: String) {
      deviceChanged(after: $after) { cursor device { ...DeviceRowFields } }
    }
  `,
  [DeviceRowFields],
);

/**
 * The device itself is updated in place by the cache; this keeps the lists it belongs to true.
 * A device never leaves its host (a vanished one is MISSING), so its host's lists only grow; a
 * VM on the same host holds it exactly while the event says so. The pool's counts (the fleet's
 * and its host's), the capacity answers and the device's own history are aggregates the event
 * cannot carry: they are dropped, and only the pages showing them read them again.
 */
export const deviceChanged: UpdateResolver<ResultOf<typeof DeviceEvents>> = ({ deviceChanged: { device } }, _args, cache) => {
  const key = cache.keyOfEntity({ __typename: 'Device', id: device.id });
  const hostKey = cache.keyOfEntity({ __typename: 'Host', id: device.host.id });
  if (!key || !hostKey) return;
  const before = (other: string) => device.address < stringField(cache, other, 'address');
  placeInConnections(cache, hostKey, 'devices', key, (args) => (stringArg(args, 'kind') ?? device.kind) === device.kind, before);

  const holder = device.vm ? cache.keyOfEntity({ __typename: 'VM', id: device.vm.id }) : null;
  // Whichever VM held it before (the event does not say), its cached device pages are among
  // these; only a VM on the device's own host can ever have held it.
  const vms = cachedEntities(cache, 'vms', 'vm');
  for (const vm of connectionNodes(cache, hostKey, 'vms')) vms.add(vm);
  if (holder) vms.add(holder);
  for (const vm of vms) {
    const vmHost = cache.resolve(vm, 'host');
    if (vm === holder || typeof vmHost !== 'string' || vmHost === hostKey) placeInConnections(cache, vm, 'devices', key, () => vm === holder, before);
  }

  cache.invalidate('Query', 'pool');
  cache.invalidate(hostKey, 'pool');
  invalidateField(cache, 'Query', 'capacity');
  invalidateField(cache, key, 'history');
};
