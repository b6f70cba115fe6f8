import { graphql } from '../../../protocol/graphql.ts';

/** Adds a user through the API, beside the console's own form; a refusal answers with its type name. */
export const CreateUser = graphql(`
  mutation CreateUser($input: CreateUserInput!) { createUser(input: $input) { __typename ... on Error { message } } }
`);
