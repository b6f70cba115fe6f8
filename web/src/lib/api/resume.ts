import type { ExecutionResult, SubscriptionOperation } from '@urql/core';
import type { FormattedExecutionResult, SubscribePayload, Sink } from 'graphql-ws';

/** graphql-ws's `client.subscribe`: sends the payload on every (re)connect until unsubscribed. */
export type Subscribe = (payload: SubscribePayload, sink: Sink<FormattedExecutionResult>) => () => void;

/**
 * The server ends a subscription with these when it cannot replay from the cursor given (older
 * than its change log) or the subscriber fell too far behind: the client has lost changes, so it
 * reads its lists again and follows from now.
 */
export const RESTART_CODES: ReadonlySet<string> = new Set(['CursorExpiredError', 'SubscriberBehindError']);

function mustRestart(errors: unknown): boolean {
  return Array.isArray(errors) && errors.some((e: unknown) => e && typeof e === 'object' && 'extensions' in e && e.extensions && typeof e.extensions === 'object' && 'code' in e.extensions && typeof e.extensions.code === 'string' && RESTART_CODES.has(e.extensions.code));
}

/** The resume cursor of an event: every subscription field is a wrapper with a `cursor`. */
export function cursorOf(data: unknown): string | null {
  if (!data || typeof data !== 'object') return null;
  for (const value of Object.values(data)) {
    if (value && typeof value === 'object' && 'cursor' in value && typeof value.cursor === 'string') return value.cursor;
  }
  return null;
}

/**
 * Forwards urql's subscriptions to graphql-ws so that they resume where they left off. Each
 * subscription remembers the cursor of the last event it received and, when graphql-ws resubscribes
 * after a reconnect, asks for `after: <that cursor>`, so the server replays what was committed
 * meanwhile. A subscription may start from a cursor of its own (`variables.after`, e.g. the head of
 * the change log read before the lists). When the server answers that it cannot resume, the cursor
 * is dropped, `reread()` is called for the pages to read their lists again, and the subscription
 * starts over from now; the error never reaches the page.
 */
export function resumable(subscribe: Subscribe, reread: () => void) {
  return (request: SubscriptionOperation) => ({
    subscribe(sink: Sink<ExecutionResult>) {
      const base = request.variables ?? {};
      let cursor = typeof base.after === 'string' ? base.after : null;
      let closed = false;
      let stop = () => {};
      const payload: SubscribePayload = {
        query: request.query ?? '',
        operationName: request.operationName,
        extensions: request.extensions,
        // graphql-ws serialises the payload again each time it resubscribes after a reconnect, so
        // a getter makes that resubscription carry the latest cursor.
        get variables() {
          return { ...base, after: cursor };
        },
      };
      const start = () => {
        let refused = false;
        stop = subscribe(payload, {
          next(result) {
            // The server ends the subscription after such an error; it starts over once ended
            // (ending it from here as well would release graphql-ws's lock on the socket twice).
            if (mustRestart(result.errors)) refused = true;
            else {
              cursor = cursorOf(result.data) ?? cursor;
              const forwarded: ExecutionResult = result;
              sink.next(forwarded);
            }
          },
          error(error) {
            if (mustRestart(error)) restart();
            else sink.error(error);
          },
          complete() {
            if (refused) restart();
            else sink.complete();
          },
        });
      };
      const restart = () => {
        cursor = null;
        if (closed) return;
        start();
        reread();
      };
      start();
      return {
        unsubscribe() {
          closed = true;
          stop();
        },
      };
    },
  });
}
