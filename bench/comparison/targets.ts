// The three servers the read benchmark compares, each a child process pinned to the server
// core: Passthru as production runs it (server/main.ts), PostGraphile v4, and the floor.
import { join } from 'node:path';
import { onCleanup } from '../support/lifecycle.ts';
import { freePort, repoRoot, startChild, startServer, untilServing, type Child } from '../support/processes.ts';

export type TargetName = 'passthru' | 'postgraphile' | 'floor';
export const TARGETS: TargetName[] = ['passthru', 'postgraphile', 'floor'];

export interface TargetOptions {
  databaseUrl: string;
  core: number;
  logDir: string;
  /** Passthru only: timers that would add statements of their own (the statement count). */
  quiet?: boolean;
  /** Passthru only: write its V8 CPU profile here when it stops (--cpu-prof). */
  cpuProfileDir?: string | undefined;
}

/**
 * Every server of the comparison runs as in production: NODE_ENV=production, which, among
 * others, turns off graphql-js's development-only checks (its cross-realm instanceof test).
 */
export const PRODUCTION_ENV = { NODE_ENV: 'production' };

/** Settings for a read fleet without agents: its hosts stay ONLINE for the whole run. */
const READ_FLEET_ENV = { PASSTHRU_HEARTBEAT_TIMEOUT: '24h' };
const QUIET_ENV = { PASSTHRU_SWEEP_INTERVAL: '1h', PASSTHRU_CHANGE_POLL_INTERVAL: '1h', PASSTHRU_HEARTBEAT_FLUSH_INTERVAL: '1h' };

export async function startTarget(name: TargetName, options: TargetOptions): Promise<Child> {
  const port = await freePort();
  let child: Child;
  if (name === 'passthru') {
    child = await startServer({
      port,
      core: options.core,
      databaseUrl: options.databaseUrl,
      dataDir: join(options.logDir, 'pglite'),
      logDir: options.logDir,
      cpuProfileDir: options.cpuProfileDir,
      env: { ...PRODUCTION_ENV, ...READ_FLEET_ENV, ...(options.quiet ? QUIET_ENV : {}) },
    });
  } else {
    const logFile = join(options.logDir, `${name}-${port}.log`);
    child = startChild({
      script: name === 'postgraphile' ? 'bench/support/postgraphile-server.ts' : 'bench/support/read-floor-server.ts',
      port,
      core: options.core,
      logFile,
      env: {
        ...PRODUCTION_ENV,
        DATABASE_URL: options.databaseUrl,
        // PostGraphile v4 needs its own graphql 15 (see the preloaded file).
        ...(name === 'postgraphile' ? { NODE_OPTIONS: `--require ${join(repoRoot, 'bench/support/postgraphile-graphql.cjs')}` } : {}),
      },
    });
    await untilServing(child, logFile);
  }
  onCleanup(() => child.stop('SIGINT'));
  return child;
}
