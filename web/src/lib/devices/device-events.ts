import type { UpdateResolver } from '@urql/exchange-graphcache';
import { graphql, type ResultOf } from '../api/graphql.ts';
import { cachedEntities, invalidateField, placeInLists, stringArg, stringField } from '../api/cache-lists.ts';
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
 * VM on the same host holds it exactly while the event says so. The pool's counts, the capacity
 * answers and the device's own history are aggregates the event cannot carry: they are dropped,
 * and only the pages showing them read them again.
 */
export const deviceChanged: UpdateResolver<ResultOf<typeof DeviceEvents>> = ({ deviceChanged: { device } }, _args, cache) => {
  const key = cache.keyOfEntity({ __typename: 'Device', id: device.id });
  const hostKey = cache.keyOfEntity({ __typename: 'Host', id: device.host.id });
  if (!key || !hostKey) return;
  const before = (other: string) => device.address < stringField(cache, other, 'address');
  placeInLists(cache, hostKey, 'devices', key, (args) => (stringArg(args, 'kind') ?? device.kind) === device.kind, before);

  const holder = device.vm ? cache.keyOfEntity({ __typename: 'VM', id: device.vm.id }) : null;
  // Whichever VM held it before (the event does not say), its cached device list is among these.
  const vms = cachedEntities(cache, 'vms', 'vm');
  for (const info of cache.inspectFields(hostKey)) {
    const value = info.fieldName === 'vms' ? cache.resolve(hostKey, info.fieldKey) : null;
    if (Array.isArray(value)) for (const vm of value) if (typeof vm === 'string') vms.add(vm);
  }
  if (holder) vms.add(holder);
  for (const vm of vms) placeInLists(cache, vm, 'devices', key, () => vm === holder, before);

  cache.invalidate('Query', 'pool');
  invalidateField(cache, 'Query', 'capacity');
  invalidateField(cache, key, 'history');
};
