import { resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

/** Everything the server reads from the environment, parsed in one place. */
export interface Config {
  port: number;
  /** PostgreSQL server URL; absent means the embedded PGlite database in `dataDir`. */
  databaseUrl: string | undefined;
  dataDir: string;
  /** An operation unanswered this long fails and its devices revert. */
  operationTimeoutMs: number;
  /** A host silent this long is marked OFFLINE. */
  heartbeatTimeoutMs: number;
  /** How often expired operations and silent hosts are swept. */
  sweepIntervalMs: number;
  logLevel: string;
  /** The built web console, served at /. */
  webDir: string;
}

function positiveNumber(env: NodeJS.ProcessEnv, name: string, fallback: number): number {
  const raw = env[name];
  if (raw === undefined || raw === '') return fallback;
  const value = Number(raw);
  if (!Number.isFinite(value) || value <= 0) {
    throw new Error(`${name} must be a positive number, got "${raw}"`);
  }
  return value;
}

export function loadConfig(env: NodeJS.ProcessEnv = process.env): Config {
  return {
    port: positiveNumber(env, 'PORT', 4000),
    databaseUrl: env.DATABASE_URL || undefined,
    dataDir: resolve(env.PASSTHRU_DATA_DIR || '.data/pglite'),
    operationTimeoutMs: positiveNumber(env, 'PASSTHRU_OPERATION_TIMEOUT_SECONDS', 60) * 1000,
    heartbeatTimeoutMs: positiveNumber(env, 'PASSTHRU_HEARTBEAT_TIMEOUT_SECONDS', 30) * 1000,
    sweepIntervalMs: positiveNumber(env, 'PASSTHRU_SWEEP_INTERVAL_SECONDS', 1) * 1000,
    logLevel: env.LOG_LEVEL || 'info',
    webDir: resolve(env.PASSTHRU_WEB_DIR || fileURLToPath(new URL('../web/dist', import.meta.url))),
  };
}
