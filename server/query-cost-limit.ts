import { createComplexityRule } from '@pothos/plugin-complexity';
import { validate, type DocumentNode, type ExecutionArgs, type GraphQLError } from 'graphql';
import type { Plugin } from 'graphql-yoga';
import { costKey, MAX_QUERY_COST, queryTooCostly } from './graphql/query-cost.ts';

/** Different page sizes remembered per document; a document asked with more starts over. */
const SIZES_PER_DOCUMENT = 32;

/**
 * The refusal of `args` for its cost, with its variables read; null when it is within the limit.
 * Variables that do not fit their types are left to execution, which reports them as usual.
 * Remembered per parsed document (yoga hands the same one to every request of its text) and
 * cost-relevant variables, so a document asked again costs a map lookup, not a walk.
 */
function costRefusalOf(known: WeakMap<DocumentNode, Map<string, GraphQLError | null>>, args: ExecutionArgs): GraphQLError | null {
  const key = `${args.operationName ?? ''}|${costKey(args.variableValues ?? {})}`;
  let byKey = known.get(args.document);
  const remembered = byKey?.get(key);
  if (remembered !== undefined) return remembered;
  const refusal = costRefusal(args);
  if (!byKey || byKey.size >= SIZES_PER_DOCUMENT) known.set(args.document, (byKey = new Map()));
  byKey.set(key, refusal);
  return refusal;
}

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
  const known = new WeakMap<DocumentNode, Map<string, GraphQLError | null>>();
  return {
    onExecute: ({ args, setResultAndStopExecution }) => {
      const refusal = costRefusalOf(known, args);
      if (refusal) setResultAndStopExecution({ errors: [refusal] });
    },
    onSubscribe: ({ args, setResultAndStopExecution }) => {
      const refusal = costRefusalOf(known, args);
      if (refusal) setResultAndStopExecution({ errors: [refusal] });
    },
  };
}
