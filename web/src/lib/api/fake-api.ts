// For tests: a urql client with the console's normalized cache in front of a scripted server, so
// updaters are tested through the real cache instead of against a mock of it.
import { Client, subscriptionExchange, type ExecutionResult, type SubscriptionOperation } from '@urql/core';
import type { IntrospectionQuery } from 'graphql';
import { normalizedCache } from './cache.ts';

type Sink = { next(result: ExecutionResult): void; complete(): void };

/** Answers each query with `answer(operationName, variables)`; `emit` delivers a subscription event. */
export function fakeApi(schema: IntrospectionQuery, answer: (operationName: string, variables: SubscriptionOperation['variables']) => Record<string, unknown>) {
  const subscribers = new Map<string, Sink>();
  const asked: string[] = [];
  const client = new Client({
    url: 'http://127.0.0.1/graphql',
    exchanges: [
      normalizedCache(schema),
      subscriptionExchange({
        enableAllOperations: true,
        forwardSubscription: (request, operation) => ({
          subscribe(sink: Sink) {
            const name = request.operationName ?? '';
            if (operation.kind === 'subscription') subscribers.set(name, sink);
            else {
              asked.push(name);
              sink.next({ data: answer(name, request.variables) });
              sink.complete();
            }
            return { unsubscribe: () => subscribers.delete(name) };
          },
        }),
      }),
    ],
  });
  return {
    client,
    /** Names of the queries the server was asked, in order. */
    asked,
    emit(subscription: string, data: Record<string, unknown>) {
      subscribers.get(subscription)?.next({ data });
    },
  };
}
