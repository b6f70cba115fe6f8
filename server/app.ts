import { existsSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import sirv from 'sirv';
import type { AddressInfo } from 'node:net';
import { GraphQLError } from 'graphql';
import { createYoga, maskError } from 'graphql-yoga';
import { useServer } from 'graphql-ws/use/ws';
import { WebSocketServer } from 'ws';
import type { Config } from './config.ts';
import { openDatabase, type Database } from './db/client.ts';
import { createContext, type AppDeps } from './context.ts';
import { DomainError } from './domain/errors.ts';
import { failExpiredOperations } from './domain/operations.ts';
import { markSilentHostsOffline } from './domain/hosts.ts';
import { schema } from './graphql/schema.ts';
import { createLogger, type Logger } from './logger.ts';
import { createChangeBus, relayDatabaseChanges } from './pubsub.ts';

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
}

/**
 * Domain errors thrown outside a result union (query arguments, subscriptions) reach the
 * client with their message and a code; anything else is a bug and is masked.
 */
function maskUnexpected(error: unknown, message: string, isDev?: boolean) {
  let cause = error;
  while (cause instanceof GraphQLError && cause.originalError) cause = cause.originalError;
  if (cause instanceof DomainError) {
    return new GraphQLError(cause.message, { extensions: { code: cause.constructor.name } });
  }
  return maskError(error, message, isDev);
}

export async function buildApp(config: Config, options: AppOptions = {}): Promise<App> {
  const logger = options.logger ?? createLogger(config.logLevel);
  const database = await openDatabase({ databaseUrl: config.databaseUrl, dataDir: config.dataDir, onQuery: options.onQuery });
  const pubsub = createChangeBus();
  const stopRelay = await relayDatabaseChanges(database, pubsub);
  const deps: AppDeps = { database, pubsub, config };

  const yoga = createYoga({
    schema,
    graphqlEndpoint: '/graphql',
    graphiql: { subscriptionsProtocol: 'WS' },
    maskedErrors: { maskError: maskUnexpected },
    logging: {
      debug: (...args) => logger.debug(args),
      info: (...args) => logger.info(args),
      warn: (...args) => logger.warn(args),
      error: (...args) => logger.error(args),
    },
    // HTTP requests carry the token in a header; graphql-ws connections in connection_init.
    context: (initial: { request?: Request; connectionParams?: Record<string, unknown> }) =>
      createContext(deps, initial.request?.headers.get('authorization') ?? initial.connectionParams?.authorization),
  });

  // The console's built files at /, the API at /graphql.
  const consoleFiles = existsSync(config.webDir) ? sirv(config.webDir, { single: true, etag: true }) : null;
  const server = createServer((req, res) => {
    if (consoleFiles && !req.url?.startsWith(yoga.graphqlEndpoint)) {
      consoleFiles(req, res, () => yoga(req, res));
      return;
    }
    yoga(req, res);
  });
  const wsServer = new WebSocketServer({ server, path: yoga.graphqlEndpoint });
  const wsHandle = useServer(
    {
      execute: (args: any) => args.rootValue.execute(args),
      subscribe: (args: any) => args.rootValue.subscribe(args),
      onSubscribe: async (ctx, _id, params) => {
        const { schema, execute, subscribe, contextFactory, parse, validate } = yoga.getEnveloped({
          ...ctx,
          req: ctx.extra.request,
          socket: ctx.extra.socket,
          params,
        });
        const args = {
          schema,
          operationName: params.operationName,
          document: parse(params.query),
          variableValues: params.variables,
          contextValue: await contextFactory(),
          rootValue: { execute, subscribe },
        };
        const errors = validate(args.schema, args.document);
        if (errors.length) return errors;
        return args;
      },
    },
    wsServer,
  );

  let sweeper: NodeJS.Timeout | undefined;
  async function sweep() {
    try {
      const expired = await failExpiredOperations(database.db);
      if (expired > 0) logger.warn({ expired }, 'operations timed out and were reverted');
      const silent = await markSilentHostsOffline(database.db, config.heartbeatTimeoutMs);
      if (silent > 0) logger.warn({ silent }, 'hosts went offline');
    } catch (error) {
      logger.error({ err: error }, 'sweep failed');
    }
  }

  return {
    database,
    server,
    logger,
    async start(port = config.port) {
      await new Promise<void>((resolve) => server.listen(port, resolve));
      sweeper = setInterval(sweep, config.sweepIntervalMs);
      const bound = (server.address() as AddressInfo).port;
      logger.info({ port: bound, database: database.kind }, `Passthru API on http://localhost:${bound}/graphql`);
      return bound;
    },
    async stop() {
      clearInterval(sweeper);
      await wsHandle.dispose();
      wsServer.close();
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      await stopRelay();
      await database.close();
    },
  };
}
