import { graphql, type ResultOf } from '../../../../protocol/graphql.ts';

/** What an operation row shows: the first few of its devices, and whether it moves more. */
export const OperationRowFields = graphql(`
  fragment OperationRowFields on Operation {
    id
    type
    status
    queuePosition
    actor
    error
    createdAt
    startedAt
    finishedAt
    durationMs
    host { id name }
    vm { id name }
    devices(first: 4) { nodes { id kind address name } pageInfo { hasNextPage } }
  }
`);

export type OperationRowData = ResultOf<typeof OperationRowFields>;
