import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import type { AgentPresence } from './agent-presence.ts';
import { GraphQLError, Kind, getOperationAST, type DocumentNode, type ExecutionArgs, type ExecutionResult } from 'graphql';
import { CloseCode } from 'graphql-ws';
import { useServer } from 'graphql-ws/use/ws';
import type { YogaServerInstance } from 'graphql-yoga';
import { WebSocket, WebSocketServer } from 'ws';
import type { Config } from './config.ts';
import type { OriginPolicy } from './origins.ts';
import { Quota } from './quota.ts';
import { createContext, type AppDeps, type Context, type Presented } from './context.ts';
import { credentialKey, type Credential } from './domain/auth.ts';
import { CURSOR, type LiveHub, type LiveSource } from './live/hub.ts';
import { SubscriptionMultiplexer, type Seat } from './live/multiplexer.ts';

interface SocketState {
  context: Context;
  credential: Credential | null;
  subscriptions: number;
  expiry?: NodeJS.Timeout;
}

/** graphql-ws close code for a connection over its credential's or address's share (HTTP 429's). */
const TOO_MANY = 4429;

type Enveloped = ReturnType<YogaServerInstance<{ req?: IncomingMessage }, Context>['getEnveloped']>;

/** What onSubscribe hands to the execute/subscribe hooks, as graphql-ws's rootValue. */
interface Handoff {
  execute: Enveloped['execute'];
  subscribe: Enveloped['subscribe'];
  context: Context;
  /** Set when the subscription may share an execution: its group key, its socket seat, and the cursor it resumes from. */
  shared: { key: string; seat: Seat; liveVariables: Record<string, unknown> | null; after: number | null } | null;
}

function isHandoff(value: unknown): value is Handoff {
  return typeof value === 'object' && value !== null && 'execute' in value && 'subscribe' in value && 'shared' in value;
}

/**
 * How a user subscription may share an execution. A cursor passed in a variable is taken out:
 * the subscriber replays from it on its own, then joins the live execution of the same
 * document without it. A cursor written into the document runs alone.
 */
function sharing(document: DocumentNode, operationName: string | null | undefined, variables: Record<string, unknown> | null | undefined) {
  const operation = getOperationAST(document, operationName);
  if (operation?.operation !== 'subscription') return null;
  let cursorVariable: string | null = null;
  for (const selection of operation.selectionSet.selections) {
    if (selection.kind !== Kind.FIELD) continue;
    const after = selection.arguments?.find((argument) => argument.name.value === 'after')?.value;
    if (!after || after.kind === Kind.NULL) continue;
    if (after.kind !== Kind.VARIABLE) return null;
    cursorVariable = after.name.value;
  }
  const cursor = cursorVariable === null ? null : variables?.[cursorVariable];
  if (cursorVariable === null || cursor === null || cursor === undefined) return { liveVariables: variables ?? null, cursor: null };
  if (typeof cursor !== 'string' || !CURSOR.test(cursor)) return null;
  return { liveVariables: { ...variables, [cursorVariable]: null }, cursor: Number(cursor) };
}

/**
 * graphql-ws on the API path: authenticated in connection_init, closed when its credential is
 * revoked or expires, and user subscriptions multiplexed (server/live/multiplexer.ts).
 */
export function attachGraphqlWs(options: {
  yoga: YogaServerInstance<{ req?: IncomingMessage }, Context>;
  deps: AppDeps;
  live: LiveHub;
  config: Config;
  origins: OriginPolicy;
  clientAddress: (req: IncomingMessage) => string;
  presence: AgentPresence;
}) {
  const { yoga, deps, live, config, origins, clientAddress, presence } = options;
  const wsServer = new WebSocketServer({
    // Upgrades reach it through app.ts, which routes each path to its socket server.
    noServer: true,
    maxPayload: config.maxBodyBytes,
    // A page of another origin must not open a socket with the visitor's session cookie (401).
    verifyClient: ({ req }: { req: IncomingMessage }) => !req.headers.cookie || origins.allows(req.headers.origin, req.headers.host),
  });
  const sockets = new Map<WebSocket, SocketState>();
  const closeSocket = (socket: WebSocket, reason: string) => socket.close(CloseCode.Forbidden, reason);
  const multiplexer = new SubscriptionMultiplexer(live, config.subscriberQueueLimit);
  // Shares of the server's sockets: one credential, or one machine, cannot take them all.
  const byCredential = new Map<string, Set<SocketState>>();
  const byAddress = new Quota(config.maxSocketsPerAddress);
  wsServer.on('connection', (socket, request) => {
    const address = clientAddress(request);
    if (!byAddress.take(address)) {
      socket.close(TOO_MANY, `At most ${byAddress.limit} connections from one address`);
      return;
    }
    socket.once('close', () => byAddress.release(address));
  });

  const subscribe = async (args: ExecutionArgs): Promise<AsyncIterable<ExecutionResult> | ExecutionResult> => {
    const handoff = args.rootValue;
    if (!isHandoff(handoff)) return { errors: [new GraphQLError('Not connected')] };
    if (!handoff.shared) return handoff.subscribe(args);
    const { key, seat, liveVariables, after } = handoff.shared;
    // Each execution gets its own context (a copy), so per-context loaders are its own, watching
    // through its tap and reading what the selection adds on the fan-out pool, away from writes.
    const run = (variableValues: ExecutionArgs['variableValues']) => async (tapped: LiveSource) =>
      handoff.subscribe({ ...args, variableValues, contextValue: { ...handoff.context, live: tapped, db: deps.database.feedDb } });
    return multiplexer.join(key, seat, run(liveVariables), after === null ? null : { after, replay: run(args.variableValues) });
  };

  const handle = useServer<Record<string, unknown>, { request: IncomingMessage; socket: WebSocket }>(
    {
      onConnect: async (ctx) => {
        const presented: Presented = {
          authorization: ctx.connectionParams?.authorization,
          cookieHeader: ctx.extra.request.headers.cookie,
          clientAddress: clientAddress(ctx.extra.request),
        };
        const context = await createContext(deps, presented);
        if (context.principal.kind === 'anonymous') {
          // No credentials: 4401 Unauthorized; a bad or revoked one: 4403 Forbidden.
          const code = context.principal.rejected ? CloseCode.Forbidden : CloseCode.Unauthorized;
          ctx.extra.socket.close(code, context.principal.rejected ?? 'Sign in or send a token in connectionParams.authorization');
          return false;
        }
        const credential = context.principal.credential;
        const siblings = byCredential.get(credentialKey(credential)) ?? new Set<SocketState>();
        if (siblings.size >= config.maxSocketsPerCredential) {
          ctx.extra.socket.close(TOO_MANY, `At most ${config.maxSocketsPerCredential} connections per credential`);
          return false;
        }
        const state: SocketState = { context, credential, subscriptions: 0 };
        byCredential.set(credentialKey(credential), siblings.add(state));
        if (credential.expiresAt) {
          const left = Math.max(credential.expiresAt.getTime() - Date.now(), 0);
          state.expiry = setTimeout(() => closeSocket(ctx.extra.socket, 'Credential expired'), Math.min(left, 2 ** 31 - 1));
        }
        sockets.set(ctx.extra.socket, state);
        if (context.principal.kind === 'agent') presence.connected(context.principal.host.id);
        return true;
      },
      onClose: (ctx) => {
        const state = sockets.get(ctx.extra.socket);
        if (!state) return;
        clearTimeout(state.expiry);
        sockets.delete(ctx.extra.socket);
        if (state.context.principal.kind === 'agent') presence.disconnected(state.context.principal.host.id);
        if (!state.credential) return;
        const siblings = byCredential.get(credentialKey(state.credential));
        siblings?.delete(state);
        if (siblings?.size === 0) byCredential.delete(credentialKey(state.credential));
      },
      onSubscribe: async (ctx, id, params) => {
        const state = sockets.get(ctx.extra.socket);
        if (!state) return [new GraphQLError('Not connected')];
        if (state.subscriptions >= config.maxSubscriptionsPerSocket) {
          return [new GraphQLError(`At most ${config.maxSubscriptionsPerSocket} subscriptions per connection`)];
        }
        let held = 0;
        for (const sibling of state.credential ? (byCredential.get(credentialKey(state.credential)) ?? []) : []) held += sibling.subscriptions;
        if (held >= config.maxSubscriptionsPerCredential) {
          return [new GraphQLError(`At most ${config.maxSubscriptionsPerCredential} subscriptions per credential, across its connections`)];
        }
        const enveloped = yoga.getEnveloped({ ...ctx, req: ctx.extra.request, params });
        const document = enveloped.parse(params.query);
        const errors = enveloped.validate(enveloped.schema, document);
        if (errors.length) return errors;
        state.subscriptions += 1;
        const principal = state.context.principal;
        // Users of one role see the same thing for the same document and variables.
        const shares = principal.kind === 'user' ? sharing(document, params.operationName, params.variables) : null;
        const handoff: Handoff = {
          execute: enveloped.execute,
          subscribe: enveloped.subscribe,
          context: state.context,
          shared:
            principal.kind === 'user' && shares
              ? {
                  key: JSON.stringify([principal.role, principal.credential.kind, params.operationName ?? null, params.query, shares.liveVariables]),
                  seat: { socket: ctx.extra.socket, id },
                  liveVariables: shares.liveVariables,
                  after: shares.cursor,
                }
              : null,
        };
        return {
          schema: enveloped.schema,
          document,
          operationName: params.operationName,
          variableValues: params.variables,
          contextValue: state.context,
          rootValue: handoff,
        };
      },
      onComplete: (ctx) => {
        const state = sockets.get(ctx.extra.socket);
        if (state) state.subscriptions -= 1;
      },
      execute: (args) => (isHandoff(args.rootValue) ? args.rootValue.execute(args) : { errors: [new GraphQLError('Not connected')] }),
      subscribe,
    },
    wsServer,
  );

  // A revoked session or token, or a rotated host token, ends its live connections in every process.
  const stopRevocations = live.on('credential:revoked', ({ payload: revoked }) => {
    for (const [socket, state] of sockets) {
      if (state.credential?.kind === revoked.kind && state.credential.id === revoked.id) closeSocket(socket, 'Credential revoked');
    }
  });

  return {
    upgrade(request: IncomingMessage, socket: Duplex, head: Buffer) {
      wsServer.handleUpgrade(request, socket, head, (ws) => wsServer.emit('connection', ws, request));
    },
    async dispose() {
      stopRevocations();
      for (const state of sockets.values()) clearTimeout(state.expiry);
      await handle.dispose();
      wsServer.close();
    },
  };
}
