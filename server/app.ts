import { existsSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Duplex } from 'node:stream';
import { EnvelopArmorPlugin } from '@escape.tech/graphql-armor';
import { useCSRFPrevention } from '@graphql-yoga/plugin-csrf-prevention';
import { useDisableIntrospection } from '@graphql-yoga/plugin-disable-introspection';
import { GraphQLError } from 'graphql';
import { CloseCode } from 'graphql-ws';
import { useServer } from 'graphql-ws/use/ws';
import { createYoga, maskError, type Plugin } from 'graphql-yoga';
import sirv from 'sirv';
import { WebSocket, WebSocketServer } from 'ws';
import type { Config } from './config.ts';
import { observeTransactionWaits } from './db/transaction.ts';
import { createContext, revocablePrincipalCache, type AppDeps, type Context, type Presented } from './context.ts';
import { openDatabase, type Database } from './db/client.ts';
import { isDatabaseUnavailable } from './db/errors.ts';
import { deleteExpiredSessions, ensureFirstAdmin, type Credential } from './domain/auth.ts';
import { isDomainError } from './domain/errors.ts';
import { HeartbeatBatcher, markDisconnectedHostOffline } from './domain/heartbeats.ts';
import { AgentPresence } from './agent-presence.ts';
import { failExpiredOperations } from './domain/operations.ts';
import { useAuditTrail } from './graphql/audit.ts';
import { buildSchema } from './graphql/schema.ts';
import { clientAddressOf } from './client-address.ts';
import { LoginLimiter } from './login-limiter.ts';
import { OriginPolicy, securityHeaders } from './origins.ts';
import { Quota } from './quota.ts';
import { probes } from './probes.ts';
import { Metrics, metricsEndpoint } from './metrics.ts';
import { createLogger, type Logger } from './logger.ts';
import { firstAdminNotice } from './first-admin-notice.ts';
import { useNoSuggestions } from './no-suggestions.ts';
import { useQueryCostLimit } from './query-cost-limit.ts';
import { yogaLogging } from './yoga-logging.ts';
import { ChangeFeed } from './live/change-feed.ts';
import { CHANGE_LOG_PRUNE_INTERVAL_MS, pruneChangeLog } from './live/change-log.ts';
import { boundToCredential } from './live/credential-bound.ts';
import { LiveHub } from './live/hub.ts';
import { attachGraphqlWs } from './websocket.ts';
import { attachConsoleRelay } from './console-relay.ts';

export interface App {
  /** Listens on `port` (0 picks a free one); resolves with the bound port. */
  start(port?: number): Promise<number>;
  stop(): Promise<void>;
  database: Database;
  server: Server;
  logger: Logger;
}

export interface AppOptions {
  /** Counts or inspects every SQL statement (tests). */
  onQuery?: (sql: string) => void;
  logger?: Logger;
  /** Where notices for the person who started the server go (the first admin's password): stderr unless given. */
  notices?: NodeJS.WritableStream;
}

/** Query limits, set well above what the console asks for and well below what hurts. */
const ARMOR = {
  maxDepth: { n: 12 },
  maxAliases: { n: 20 },
  maxTokens: { n: 3000 },
  maxDirectives: { n: 20 },
  // Off: useQueryCostLimit's cost model multiplies by page sizes and reads variables.
  costLimit: { enabled: false },
  // Off: useNoSuggestions hides every suggestion (enum values and variables too) in production.
  blockFieldSuggestion: { enabled: false },
};

/**
 * Domain errors thrown outside a result union (query arguments, subscriptions) reach the
 * client with their message and a code; anything else is a bug and is masked.
 */
function maskUnexpected(error: unknown, message: string, isDev?: boolean) {
  let cause = error;
  while (cause instanceof GraphQLError && cause.originalError) cause = cause.originalError;
  if (isDomainError(cause)) {
    return new GraphQLError(cause.message, { extensions: { code: cause.constructor.name } });
  }
  if (isDatabaseUnavailable(cause)) {
    return new GraphQLError('The database is out of reach; try again in a few seconds', { extensions: { code: 'DATABASE_UNAVAILABLE' } });
  }
  return maskError(error, message, isDev);
}

/** Session cookies set by resolvers, added to the HTTP response on its way out. */
function useResponseCookies(pending: WeakMap<Request, string[]>): Plugin {
  return {
    onResponse({ request, response }) {
      for (const cookie of pending.get(request) ?? []) response.headers.append('set-cookie', cookie);
    },
  };
}

export async function buildApp(config: Config, options: AppOptions = {}): Promise<App> {
  const logger = options.logger ?? createLogger(config.logLevel);
  const database = await openDatabase({
    databaseUrl: config.databaseUrl,
    dataDir: config.dataDir,
    onQuery: options.onQuery,
    statementTimeoutMs: config.statementTimeoutMs,
    maxQueuedOperationsPerHost: config.maxQueuedOperationsPerHost,
    cpuAllocationRatio: config.cpuAllocationRatio,
  });
  const firstAdmin = await ensureFirstAdmin(database.db, { username: config.adminUsername, password: config.adminPassword });
  if (firstAdmin?.generatedPassword) {
    // Printed once, on the start that created the account (only its hash is stored), as plain
    // text on stderr beside the log: where whoever started the server looks (the terminal,
    // journalctl, docker logs), and not into the JSON lines a log collector indexes and keeps.
    (options.notices ?? process.stderr).write(firstAdminNotice(firstAdmin.username, firstAdmin.generatedPassword));
    logger.info({ username: firstAdmin.username }, `Created the first admin "${firstAdmin.username}"; its generated password is in the box printed once on stderr`);
  }
  const live = new LiveHub(database.feedDb, config.subscriberQueueLimit);
  const metrics = new Metrics({
    database,
    subscriptions: () => live.subscriberCount,
    connectedAgents: () => presence.connectedHosts,
  });
  observeTransactionWaits(database.db, (seconds) => metrics.transactionWaited(seconds));
  const feed = new ChangeFeed(database, live, logger, config.changePollMs, (committedAt) => metrics.changeDelivered(committedAt));
  await feed.start();
  const heartbeats = new HeartbeatBatcher(database.db, {
    flushIntervalMs: config.heartbeatFlushIntervalMs,
    timeoutMs: config.heartbeatTimeoutMs,
    onError: (error) => logger.error({ err: error }, 'writing heartbeats failed; keeping them for the next flush'),
  });
  const deps: AppDeps = { database, live, config, loginLimiter: new LoginLimiter(database.db), heartbeats, principals: revocablePrincipalCache(live), metrics };
  const pendingCookies = new WeakMap<Request, string[]>();

  const origins = new OriginPolicy(config.allowedOrigins);
  // Server-sent event streams per credential, capped as its graphql-ws subscriptions are.
  const streams = new Quota(config.maxSubscriptionsPerCredential);
  const clientAddress = clientAddressOf(config.trustedProxies);
  const headers = securityHeaders({ https: config.secureCookies, graphiql: config.graphiql });
  const yoga = createYoga<{ req?: IncomingMessage }, Context>({
    schema: buildSchema(),
    cors: (request) => origins.cors(request),
    graphqlEndpoint: '/graphql',
    graphiql: config.graphiql ? { subscriptionsProtocol: 'WS' } : false,
    maskedErrors: { maskError: maskUnexpected },
    logging: yogaLogging(logger),
    plugins: [
      EnvelopArmorPlugin(ARMOR),
      metrics.graphqlPlugin(),
      useQueryCostLimit(),
      ...(config.introspection ? [] : [useNoSuggestions()]),
      useCSRFPrevention({ requestHeaders: ['x-graphql-yoga-csrf'] }),
      ...(config.introspection ? [] : [useDisableIntrospection()]),
      useResponseCookies(pendingCookies),
      useAuditTrail(logger),
    ],
    context: async ({ request, req }) => {
      const setCookies: string[] = [];
      pendingCookies.set(request, setCookies);
      const context = await createContext(deps, {
        authorization: request.headers.get('authorization'),
        cookieHeader: request.headers.get('cookie'),
        clientAddress: clientAddress(req),
        setCookies,
      });
      // Subscriptions over server-sent events end with their credential.
      return { ...context, live: boundToCredential(live, context.principal.kind === 'anonymous' ? null : context.principal.credential, streams) };
    },
  });

  // The console's built files at /, the API at /graphql.
  const consoleFiles = existsSync(config.webDir) ? sirv(config.webDir, { single: true, etag: true }) : null;
  const probeFor = probes(database, feed);
  const metricsFor = metricsEndpoint(metrics, config.metricsToken);
  const server = createServer((req, res) => {
    const probe = probeFor(req);
    if (probe) {
      metrics.observeHttp(req, res, 'probe');
      void probe(res);
      return;
    }
    const scrape = metricsFor(req);
    if (scrape) {
      metrics.observeHttp(req, res, 'metrics');
      void scrape(res);
      return;
    }
    const declared = Number(req.headers['content-length'] ?? 0);
    if (declared > config.maxBodyBytes) {
      metrics.observeHttp(req, res, 'refused');
      res.writeHead(413, { 'content-type': 'application/json', connection: 'close' });
      res.end(JSON.stringify({ errors: [{ message: `Request body over ${config.maxBodyBytes} bytes` }] }));
      req.destroy();
      return;
    }
    if (consoleFiles && !req.url?.startsWith(yoga.graphqlEndpoint)) {
      metrics.observeHttp(req, res, 'console');
      headers.console(req, res, () => consoleFiles(req, res, () => yoga(req, res)));
      return;
    }
    metrics.observeHttp(req, res, 'graphql');
    headers.api(req, res, () => yoga(req, res));
  });

  const presence = new AgentPresence({
    heartbeats,
    graceMs: config.agentDisconnectGraceMs,
    markOffline: (hostId, closedAt) => markDisconnectedHostOffline(database.db, hostId, closedAt),
    onOffline: (hostId) => logger.warn({ hostId }, 'host went offline: its agent disconnected'),
    onError: (error) => logger.error({ err: error }, 'marking a disconnected host offline failed; the heartbeat timeout will'),
  });
  const realtime = attachGraphqlWs({ yoga, deps, live, config, origins, clientAddress, presence });
  const consoles = attachConsoleRelay({ deps, live, origins, clientAddress, logger });
  // One listener routes every WebSocket upgrade by path; anything else is refused.
  server.on('upgrade', (request: IncomingMessage, socket: Duplex, head: Buffer) => {
    const path = (request.url ?? '/').split('?')[0]!;
    if (path === yoga.graphqlEndpoint) realtime.upgrade(request, socket, head);
    else if (consoles.handles(path)) consoles.upgrade(request, socket, head, path);
    else {
      socket.end('HTTP/1.1 404 Not Found\r\nConnection: close\r\n\r\n');
    }
  });

  let sweeper: NodeJS.Timeout | undefined;
  async function sweep() {
    try {
      const expired = await failExpiredOperations(database.db);
      for (const operation of expired) metrics.operationFinished(operation);
      if (expired.length > 0) logger.warn({ expired: expired.length }, 'operations timed out and were reverted');
      const silent = await heartbeats.markSilentHostsOffline();
      if (silent > 0) logger.warn({ silent }, 'hosts went offline');
      await deleteExpiredSessions(database.db);
    } catch (error) {
      logger.error({ err: error }, 'sweep failed');
    }
  }

  let pruner: NodeJS.Timeout | undefined;
  async function prune() {
    try {
      await pruneChangeLog(database.db, { maxAgeMs: config.changeLogMaxAgeMs, maxRows: config.changeLogMaxRows });
      await deps.loginLimiter.prune();
    } catch (error) {
      logger.error({ err: error }, 'pruning the change log failed');
    }
  }

  return {
    database,
    server,
    logger,
    async start(port = config.port) {
      await new Promise<void>((resolve) => server.listen(port, resolve));
      heartbeats.start();
      sweeper = setInterval(sweep, config.sweepIntervalMs);
      pruner = setInterval(prune, CHANGE_LOG_PRUNE_INTERVAL_MS);
      const bound = (server.address() as AddressInfo).port;
      logger.info({ port: bound, database: database.kind }, `Passthru on http://localhost:${bound} (API at /graphql)`);
      return bound;
    },
    async stop() {
      clearInterval(sweeper);
      clearInterval(pruner);
      consoles.dispose();
      await realtime.dispose();
      presence.stop();
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      await feed.stop();
      await heartbeats.stop();
      await database.close();
    },
  };
}
