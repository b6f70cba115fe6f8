// The server's answers to the agent's mutations, read in one place: every member of their
// result unions means one of four things to the agent.
//
// Re-sending a mutation is safe because every agent mutation is idempotent on the server: a
// second startOperation on a RUNNING operation is a no-op, a second completeOperation answers
// OperationFinishedError, which the agent treats as settled.

import type { Logger } from 'pino';
import type { AgentAnswer } from '../protocol/agent.ts';
import { errorMessage } from './errors.ts';
import { retryUntilDone, type BackoffOptions } from './retry.ts';

/** Every answer but an acceptance: the member it was (`type`) and what it said. */
interface Refusal {
  type: string;
  message: string;
}

export type Verdict =
  | { kind: 'accepted' }
  /** OperationFinishedError: the server had already ended the operation (timed out?), as `status`. */
  | ({ kind: 'finished'; status: string } & Refusal)
  /** This agent may not do agent work any more: it stops. */
  | ({ kind: 'fatal' } & Refusal)
  /** Refused this time (an operation it does not know, an invalid report): logged, not retried. */
  | ({ kind: 'refused' } & Refusal);

/**
 * What an answer means. `about` is what the mutation names: a host that is not found was
 * deleted, which ends its agent; an operation that is not found is only skipped.
 */
export function verdictOf(answer: AgentAnswer, about: 'host' | 'operation'): Verdict {
  switch (answer.__typename) {
    case 'Host':
    case 'Operation':
      return { kind: 'accepted' };
    case 'OperationFinishedError':
      return { kind: 'finished', status: answer.finishedStatus, type: answer.__typename, message: answer.message };
    case 'NotAuthorizedError':
      return { kind: 'fatal', type: answer.__typename, message: answer.message };
    case 'NotFoundError':
      if (about === 'host') return { kind: 'fatal', type: answer.__typename, message: answer.message };
  }
  // The rest, and a member a newer server added, are refusals the agent cannot act on.
  return { kind: 'refused', type: answer.__typename, message: answer.message };
}

export interface DeliveryOptions {
  backoff: BackoffOptions;
  /** Aborted at shutdown: delivery gives up. */
  signal: AbortSignal;
  log: Logger;
  connected(): boolean;
}

/**
 * A mutation whose answer matters (start, complete): sent again with backoff until the server
 * gives a definite answer (any member of the result union). Null when shutting down first.
 */
export function deliver(name: string, send: () => Promise<AgentAnswer>, options: DeliveryOptions): Promise<Verdict | null> {
  return retryUntilDone<Verdict>(
    async () => {
      try {
        return { done: true, value: verdictOf(await send(), 'operation') };
      } catch (error) {
        return { done: false, error };
      }
    },
    {
      backoff: options.backoff,
      signal: options.signal,
      onRetry: (error, tryNumber, delayMs) =>
        options.log.warn({ err: errorMessage(error), attempt: tryNumber + 1, delayMs, connected: options.connected() }, `${name} did not get through; retrying`),
    },
  );
}
