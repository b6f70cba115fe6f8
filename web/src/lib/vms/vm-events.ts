import type { UpdateResolver } from '@urql/exchange-graphcache';
import { graphql, type ResultOf } from '../../../../protocol/graphql.ts';
import { invalidateField, placeInConnections, stringArg, stringField } from '../api/cache-lists.ts';
import { VmPassthroughFields } from './fragments.ts';

/** Every VM change, with what the VM lists show of a VM (its passthrough devices included). */
export const VmEvents = graphql(
  `
    subscription VmEvents($after: String) {
      vmChanged(after: $after) {
        cursor
        vm { id name status cores memoryMb diskGb createdAt deletedAt host { id name } plan { id name gpuCount } ...VmPassthroughFields }
      }
    }
  `,
  [VmPassthroughFields],
);

/**
 * A new VM joins the VM lists (by name) and its host's; a torn-down one leaves the lists of live
 * VMs. Creation and teardown change the host's and the plan's VM counts and every change what
 * still fits: those are counted by the server, so they are dropped for the pages showing them to
 * read again.
 */
export const vmChanged: UpdateResolver<ResultOf<typeof VmEvents>> = ({ vmChanged: { vm } }, _args, cache) => {
  const key = cache.keyOfEntity({ __typename: 'VM', id: vm.id });
  const hostKey = cache.keyOfEntity({ __typename: 'Host', id: vm.host.id });
  if (!key || !hostKey) return;
  // A VM is created PROVISIONING and torn down to DELETED: only those change how many there are.
  const live = vm.status !== 'DELETED';
  const createdOrDeleted = vm.status === 'PROVISIONING' || !live;
  const before = (other: string) => vm.name < stringField(cache, other, 'name');
  placeInConnections(cache, 'Query', 'vms', key, (args) => (stringArg(args, 'hostId') ?? vm.host.id) === vm.host.id && (live || args?.includeDeleted === true), before);
  placeInConnections(cache, hostKey, 'vms', key, () => live, before);
  if (createdOrDeleted) cache.invalidate(hostKey, 'vmCount');
  const planKey = vm.plan && cache.keyOfEntity({ __typename: 'ServicePlan', id: vm.plan.id });
  if (planKey && createdOrDeleted) cache.invalidate(planKey, 'vmCount');
  invalidateField(cache, 'Query', 'capacity');
};
