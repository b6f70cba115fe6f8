import { graphql, type ResultOf } from '../../../../protocol/graphql.ts';
import { VmPassthroughFields } from '../vms/fragments.ts';

/** A host's own facts, as the host lists show them and a host event carries them. */
export const HostFactsFields = graphql(`
  fragment HostFactsFields on Host {
    id
    name
    status
    cpuCores
    memoryMb
    iommuEnabled
    lastSeenAt
    cluster { id name }
  }
`);

/** What a host's Summary tab shows of the host itself and its VMs (the first page of them, by name). */
export const HostSummaryFields = graphql(
  `
    fragment HostSummaryFields on Host {
      ...HostFactsFields
      vms(first: 50) {
        nodes { id name status cores memoryMb plan { id name } ...VmPassthroughFields }
        pageInfo { hasNextPage }
      }
    }
  `,
  [HostFactsFields, VmPassthroughFields],
);

export type HostSummaryData = ResultOf<typeof HostSummaryFields>;
