import { graphql, type ResultOf } from '../api/graphql.ts';

export const OperationRowFields = graphql(`
  fragment OperationRowFields on Operation {
    id
    type
    status
    actor
    error
    createdAt
    finishedAt
    durationMs
    host { id name }
    vm { id name }
    devices { id kind address name }
  }
`);

export type OperationRowData = ResultOf<typeof OperationRowFields>;
