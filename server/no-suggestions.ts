import { GraphQLError } from 'graphql';
import { isAsyncIterable, type Plugin } from 'graphql-yoga';

/** graphql-js's hints: `Did you mean "kind"?`, `Did you mean the enum value "GPU"?`, `... or "y"?` */
const SUGGESTION = /\s*Did you mean [^?]*\?/g;

function withoutSuggestion<E extends Error>(error: E): E | GraphQLError {
  const message = error.message.replace(SUGGESTION, '');
  if (message === error.message || !(error instanceof GraphQLError)) return error;
  return new GraphQLError(message, { nodes: error.nodes, source: error.source, positions: error.positions, path: error.path, originalError: error.originalError, extensions: error.extensions });
}

function withoutSuggestions<T extends { errors?: readonly GraphQLError[] }>(result: T): T {
  return result.errors?.length ? { ...result, errors: result.errors.map(withoutSuggestion) } : result;
}

/**
 * Answers that name no schema element the caller did not: with introspection off (production),
 * "Did you mean" hints would give the schema away a guess at a time. graphql-armor's
 * blockFieldSuggestion covers field names at validation only; enum values and the variables'
 * input fields are checked at execution, so every phase is covered here.
 */
export function useNoSuggestions(): Plugin {
  return {
    onValidate: () => ({ result, setResult }) => {
      if (result.length > 0) setResult(result.map(withoutSuggestion));
    },
    onExecute: () => ({
      onExecuteDone: ({ result, setResult }) => {
        if (!isAsyncIterable(result)) setResult(withoutSuggestions(result));
      },
    }),
    onSubscribe: () => ({
      onSubscribeResult: ({ result, setResult }) => {
        if (!isAsyncIterable(result)) setResult(withoutSuggestions(result));
      },
    }),
  };
}
