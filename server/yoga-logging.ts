import { GraphQLError } from 'graphql';
import { isDomainError } from './domain/errors.ts';
import type { Logger } from './logger.ts';

type Level = 'debug' | 'info' | 'warn' | 'error';

/**
 * Yoga's log calls as pino lines, each with a message. Yoga logs either a message or an error
 * alone. A refusal the caller was answered with (a domain error: not signed in, not found) is
 * ordinary traffic and goes out at info; anything else thrown is logged as an error under a
 * fixed message, its details (SQL without parameters: logger.ts) in `err`.
 */
export function yogaLogging(logger: Logger): Record<Level, (...args: unknown[]) => void> {
  const line =
    (level: Level) =>
    (...args: unknown[]) => {
      const [first, ...rest] = args;
      const details = rest.length > 0 ? { details: rest } : {};
      if (typeof first === 'string') {
        logger[level](details, first);
        return;
      }
      const cause = first instanceof GraphQLError && first.originalError ? first.originalError : first;
      if (isDomainError(cause)) {
        logger.info({ code: cause.constructor.name, ...details }, `refused: ${cause.message}`);
        return;
      }
      logger[level]({ err: cause, ...details }, 'GraphQL request failed');
    };
  return { debug: line('debug'), info: line('info'), warn: line('warn'), error: line('error') };
}
