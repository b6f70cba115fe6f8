import { pino } from 'pino';

export function createLogger(level: string) {
  return pino({
    level,
    // Tokens travel in these headers and connection params; they never reach the logs.
    redact: ['req.headers.authorization', 'authorization', 'token', '*.token'],
  });
}

export type Logger = ReturnType<typeof createLogger>;
