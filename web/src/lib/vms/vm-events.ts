import type { UpdateResolver } from '@urql/exchange-graphcache';
import { graphql, type ResultOf } from '../api/graphql.ts';
import { invalidateField, placeInConnections, placeInLists, stringArg, stringField } from '../api/cache-lists.ts';

/** Every VM change, with what the VM pages show of a VM (its device list included). */
export const VmEvents = graphql(`
  subscription VmEvents($after: String) {
    vmChanged(after: $after) {
      cursor
      vm { id name status cores memoryMb diskGb createdAt deletedAt host { id name } plan { id name gpuCount } devices { id kind } }
    }
  }
`);

/**
 * A new VM joins the VM lists (by name) and its host's; a torn-down one leaves the lists of live
 * VMs. Creation and teardown change the plan's VM count and every change what still fits: those
 * are counted by the server, so they are dropped for the pages showing them to read again.
 */
export const vmChanged: UpdateResolver<ResultOf<typeof VmEvents>> = ({ vmChanged: { vm } }, _args, cache) => {
  const key = cache.keyOfEntity({ __typename: 'VM', id: vm.id });
  const hostKey = cache.keyOfEntity({ __typename: 'Host', id: vm.host.id });
  if (!key || !hostKey) return;
  const live = vm.status !== 'DELETED';
  const before = (other: string) => vm.name < stringField(cache, other, 'name');
  placeInConnections(cache, 'vms', key, (args) => (stringArg(args, 'hostId') ?? vm.host.id) === vm.host.id && (live || args?.includeDeleted === true), before);
  placeInLists(cache, hostKey, 'vms', key, () => live, before);
  const planKey = vm.plan && cache.keyOfEntity({ __typename: 'ServicePlan', id: vm.plan.id });
  if (planKey && (vm.status === 'PROVISIONING' || vm.status === 'DELETED')) cache.invalidate(planKey, 'vmCount');
  invalidateField(cache, 'Query', 'capacity');
};
