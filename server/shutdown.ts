import type { Logger } from './logger.ts';

/**
 * How long a shutdown may take before the process exits anyway. Within it the server closes
 * graphql-ws clients with 1001 (Going away), closes the HTTP server and ends the database
 * pools; past it something is stuck (a client that never answers the close handshake, a
 * query that does not return) and a supervisor waiting to restart us should not wait on it.
 * Below systemd's and Docker's default 90 s and 10 s before they send SIGKILL.
 */
export const SHUTDOWN_TIMEOUT_MS = 8_000;

export interface ShutdownOptions {
  logger: Logger;
  /** Everything to stop, in order. */
  stop: () => Promise<void>;
  timeoutMs?: number;
  exit?: (code: number) => void;
}

/**
 * The handler for SIGTERM and SIGINT (what systemd, container runtimes and Ctrl-C send): stops
 * gracefully and exits 0, or exits 1 when stopping fails or outlasts `timeoutMs`. A signal
 * during the shutdown changes nothing: Ctrl-C under `npm start` arrives twice (from the
 * terminal and forwarded by npm), and the bound already ends a shutdown that hangs.
 */
export function gracefulShutdown({ logger, stop, timeoutMs = SHUTDOWN_TIMEOUT_MS, exit = process.exit }: ShutdownOptions) {
  let shuttingDown = false;
  return async (signal: NodeJS.Signals) => {
    if (shuttingDown) {
      logger.info({ signal }, `${signal}: already shutting down`);
      return;
    }
    shuttingDown = true;
    logger.info({ signal }, `${signal}: shutting down (closing connections and the database)`);
    const deadline = setTimeout(() => {
      logger.error({ timeoutMs }, `shutdown took longer than ${timeoutMs} ms; exiting without waiting further`);
      exit(1);
    }, timeoutMs);
    deadline.unref();
    try {
      await stop();
      clearTimeout(deadline);
      logger.info('stopped');
      exit(0);
    } catch (error) {
      clearTimeout(deadline);
      logger.error({ err: error }, 'shutdown failed');
      exit(1);
    }
  };
}
