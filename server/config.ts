import { resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import proxyaddr from 'proxy-addr';
import { parseDuration } from '../protocol/duration.ts';
import { packageRoot } from './package-root.ts';

/** Everything the server reads from the environment, parsed in one place. */
export interface Config {
  port: number;
  /** PostgreSQL server URL; absent means the embedded PGlite database in `dataDir`. */
  databaseUrl: string | undefined;
  dataDir: string;
  /** An operation unanswered this long fails and its devices revert. */
  operationTimeoutMs: number;
  operationQueueTimeoutMs: number;
  maxQueuedOperationsPerHost: number;
  /**
   * Cores a host's VMs may take together per CPU its agent reports (vCPUs are time-shared, so
   * more than 1 overcommits them); memory is never overcommitted.
   */
  cpuAllocationRatio: number;
  /** PostgreSQL cancels any statement running longer (a backstop behind the query limits); PGlite has no such timer. */
  statementTimeoutMs: number;
  /** A host silent this long is marked OFFLINE. */
  heartbeatTimeoutMs: number;
  /** A host goes OFFLINE this long after its agent's connection closes (unless it reconnects). */
  agentDisconnectGraceMs: number;
  /**
   * How often a server process writes the heartbeats it received, all hosts in one statement.
   * A host's last_seen_at lags by up to this much, so keep it well under the heartbeat timeout
   * minus the agents' heartbeat interval.
   */
  heartbeatFlushIntervalMs: number;
  /** How often expired operations and silent hosts are swept. */
  sweepIntervalMs: number;
  logLevel: string;
  /** The built web console, served at /. */
  webDir: string;
  /** The first admin, created when there are no users. */
  adminUsername: string;
  adminPassword: string | undefined;
  /** Serve GraphiQL at /graphql and answer introspection; off in production unless asked for. */
  graphiql: boolean;
  introspection: boolean;
  /** Mark the session cookie Secure (serve over HTTPS, e.g. behind a TLS proxy); also sends HSTS. */
  secureCookies: boolean;
  /** Browser origins besides the server's own whose pages may call the API with the caller's cookie (CORS, WebSocket). */
  allowedOrigins: string[];
  /** Proxies whose X-Forwarded-For names the client (proxy-addr syntax: loopback, 10.0.0.0/8, an address). */
  trustedProxies: string[];
  /** Largest request body accepted, in bytes. */
  maxBodyBytes: number;
  /** When set, /metrics answers only a scraper that sends it as a bearer token. */
  metricsToken: string | undefined;
  /** Most subscriptions one graphql-ws connection may hold. */
  maxSubscriptionsPerSocket: number;
  /** Most graphql-ws connections one credential (session, token, host) may hold open, and their subscriptions together. */
  maxSocketsPerCredential: number;
  maxSubscriptionsPerCredential: number;
  /** Most VM console sessions one credential (session, token) may hold open at once. */
  maxConsoleSessionsPerCredential: number;
  /** How long a host agent has to answer a console open before the browser is told it did not. */
  consoleAgentAnswerMs: number;
  /** Most graphql-ws connections from one client address, signed in or not. */
  maxSocketsPerAddress: number;
  /** Distinct entities a subscriber may leave undelivered before it is ended with SubscriberBehindError. */
  subscriberQueueLimit: number;
  /** How often the change log is read even without a NOTIFY (a safety net while LISTEN is down). */
  changePollMs: number;
  /** Changes older than this, or beyond the newest `changeLogMaxRows`, are pruned; older cursors cannot resume. */
  changeLogMaxAgeMs: number;
  changeLogMaxRows: number;
}

function flag(env: NodeJS.ProcessEnv, name: string, fallback: boolean): boolean {
  const raw = env[name]?.toLowerCase();
  if (raw === undefined || raw === '') return fallback;
  if (['1', 'true', 'on', 'yes'].includes(raw)) return true;
  if (['0', 'false', 'off', 'no'].includes(raw)) return false;
  throw new Error(`${name} must be true or false, got "${env[name]}"`);
}

/** A comma-separated list of origins (scheme://host[:port]), each checked. */
function origins(env: NodeJS.ProcessEnv, name: string): string[] {
  const listed = (env[name] ?? '').split(',').map((entry) => entry.trim()).filter(Boolean);
  for (const entry of listed) {
    if (!URL.canParse(entry) || new URL(entry).origin !== entry) {
      throw new Error(`${name} takes origins such as https://dashboard.example.com (scheme, host and port, no path), got "${entry}"`);
    }
  }
  return listed;
}

/** A comma-separated list of proxy-addr trust entries, checked by compiling it. */
function proxies(env: NodeJS.ProcessEnv, name: string): string[] {
  const listed = (env[name] ?? '').split(',').map((entry) => entry.trim()).filter(Boolean);
  try {
    proxyaddr.compile(listed);
  } catch (error) {
    throw new Error(`${name} takes addresses, CIDR ranges, loopback, linklocal or uniquelocal: ${error instanceof Error ? error.message : String(error)}`);
  }
  return listed;
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

/** A duration written as the agent's are (protocol/duration.ts: 60s, 5m, 24h), in milliseconds. */
function positiveDuration(env: NodeJS.ProcessEnv, name: string, fallback: string): number {
  const raw = env[name];
  const ms = parseDuration(raw === undefined || raw === '' ? fallback : raw, name);
  if (ms <= 0) throw new Error(`${name} must be a duration longer than 0, got "${raw}"`);
  return ms;
}

export function loadConfig(env: NodeJS.ProcessEnv = process.env): Config {
  const production = env.NODE_ENV === 'production';
  return {
    port: positiveNumber(env, 'PORT', 4000),
    databaseUrl: env.DATABASE_URL || undefined,
    dataDir: resolve(env.PASSTHRU_DATA_DIR || '.data/pglite'),
    operationTimeoutMs: positiveDuration(env, 'PASSTHRU_OPERATION_TIMEOUT', '60s'),
    operationQueueTimeoutMs: positiveDuration(env, 'PASSTHRU_OPERATION_QUEUE_TIMEOUT', '5m'),
    maxQueuedOperationsPerHost: positiveNumber(env, 'PASSTHRU_MAX_QUEUED_OPERATIONS_PER_HOST', 64),
    cpuAllocationRatio: positiveNumber(env, 'PASSTHRU_CPU_ALLOCATION_RATIO', 4),
    statementTimeoutMs: positiveDuration(env, 'PASSTHRU_STATEMENT_TIMEOUT', '30s'),
    heartbeatTimeoutMs: positiveDuration(env, 'PASSTHRU_HEARTBEAT_TIMEOUT', '30s'),
    agentDisconnectGraceMs: positiveDuration(env, 'PASSTHRU_AGENT_DISCONNECT_GRACE', '5s'),
    heartbeatFlushIntervalMs: positiveDuration(env, 'PASSTHRU_HEARTBEAT_FLUSH_INTERVAL', '2s'),
    sweepIntervalMs: positiveDuration(env, 'PASSTHRU_SWEEP_INTERVAL', '1s'),
    logLevel: env.LOG_LEVEL || 'info',
    webDir: resolve(env.PASSTHRU_WEB_DIR || fileURLToPath(new URL('web/dist', packageRoot))),
    adminUsername: env.PASSTHRU_ADMIN_USERNAME || 'admin',
    adminPassword: env.PASSTHRU_ADMIN_PASSWORD || undefined,
    graphiql: flag(env, 'PASSTHRU_GRAPHIQL', !production),
    introspection: flag(env, 'PASSTHRU_INTROSPECTION', !production),
    secureCookies: flag(env, 'PASSTHRU_SECURE_COOKIES', production),
    allowedOrigins: origins(env, 'PASSTHRU_ALLOWED_ORIGINS'),
    trustedProxies: proxies(env, 'PASSTHRU_TRUSTED_PROXIES'),
    maxBodyBytes: positiveNumber(env, 'PASSTHRU_MAX_BODY_BYTES', 1024 * 1024),
    metricsToken: env.PASSTHRU_METRICS_TOKEN || undefined,
    maxSubscriptionsPerSocket: positiveNumber(env, 'PASSTHRU_MAX_SUBSCRIPTIONS_PER_SOCKET', 100),
    maxSocketsPerCredential: positiveNumber(env, 'PASSTHRU_MAX_SOCKETS_PER_CREDENTIAL', 20),
    maxSubscriptionsPerCredential: positiveNumber(env, 'PASSTHRU_MAX_SUBSCRIPTIONS_PER_CREDENTIAL', 500),
    maxConsoleSessionsPerCredential: positiveNumber(env, 'PASSTHRU_MAX_CONSOLE_SESSIONS_PER_CREDENTIAL', 4),
    consoleAgentAnswerMs: positiveDuration(env, 'PASSTHRU_CONSOLE_AGENT_ANSWER_TIMEOUT', '15s'),
    maxSocketsPerAddress: positiveNumber(env, 'PASSTHRU_MAX_SOCKETS_PER_ADDRESS', 200),
    subscriberQueueLimit: positiveNumber(env, 'PASSTHRU_SUBSCRIBER_QUEUE_LIMIT', 1000),
    changePollMs: positiveDuration(env, 'PASSTHRU_CHANGE_POLL_INTERVAL', '2s'),
    changeLogMaxAgeMs: positiveDuration(env, 'PASSTHRU_CHANGE_LOG_RETENTION', '24h'),
    changeLogMaxRows: positiveNumber(env, 'PASSTHRU_CHANGE_LOG_MAX_ROWS', 1_000_000),
  };
}
