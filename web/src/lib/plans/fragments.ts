import { graphql } from '../../../../protocol/graphql.ts';

/** What the plans page shows of a plan: its query, its mutations and its events all carry it, so each updates the row in place. */
export const PlanFields = graphql(`
  fragment PlanFields on ServicePlan { id name provisionType cores memoryMb diskGb gpuCount gpuVendorId gpuProductId vmCount warnings { code message } }
`);
