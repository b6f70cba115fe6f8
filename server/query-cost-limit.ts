import { createComplexityRule } from '@pothos/plugin-complexity';
import { validate, type ExecutionArgs, type GraphQLError } from 'graphql';
import type { Plugin } from 'graphql-yoga';
import { MAX_QUERY_COST, queryTooCostly } from './graphql/query-cost.ts';

/**
 * The refusal of `args` for its cost, with its variables read; null when it is within the limit.
 * Variables that do not fit their types are left to execution, which reports them as usual.
 */
function costRefusal(args: ExecutionArgs): GraphQLError | null {
  let refusal: GraphQLError | null = null;
  const rule = createComplexityRule({
    context: typeof args.contextValue === 'object' && args.contextValue !== null ? args.contextValue : {},
    variableValues: args.variableValues ?? {},
    operationName: args.operationName ?? undefined,
    validate: ({ complexity }) => {
      if (complexity > MAX_QUERY_COST) refusal = queryTooCostly(complexity);
    },
  });
  validate(args.schema, args.document, [rule]);
  return refusal;
}

/**
 * Refuses a query, mutation or subscription that could cost more than MAX_QUERY_COST before any
 * of it runs. Checked per request rather than at validation: the cost depends on the variables
 * (`first: $n`), and validation results are cached by the document's text alone.
 */
export function useQueryCostLimit(): Plugin {
  return {
    onExecute: ({ args, setResultAndStopExecution }) => {
      const refusal = costRefusal(args);
      if (refusal) setResultAndStopExecution({ errors: [refusal] });
    },
    onSubscribe: ({ args, setResultAndStopExecution }) => {
      const refusal = costRefusal(args);
      if (refusal) setResultAndStopExecution({ errors: [refusal] });
    },
  };
}
