import type { UpdateResolver } from '@urql/exchange-graphcache';
import { graphql, type ResultOf } from '../../../../protocol/graphql.ts';
import { placeInLists, stringField } from '../api/cache-lists.ts';
import { PlanFields } from './fragments.ts';

/** Every plan created, changed or deleted (then `plan` is null). */
export const PlanEvents = graphql(
  `
    subscription PlanEvents($after: String) {
      servicePlanChanged(after: $after) { cursor planId plan { ...PlanFields } }
    }
  `,
  [PlanFields],
);

/** The plan list (by name) gains a new plan, re-sorts a renamed one and drops a deleted one. */
export const servicePlanChanged: UpdateResolver<ResultOf<typeof PlanEvents>> = ({ servicePlanChanged: { planId, plan } }, _args, cache) => {
  const key = cache.keyOfEntity({ __typename: 'ServicePlan', id: planId });
  if (!key) return;
  placeInLists(cache, 'Query', 'servicePlans', key, () => plan !== null, (other) => plan !== null && plan.name < stringField(cache, other, 'name'));
};
