import { randomUUID } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import { encodeGlobalID } from '@pothos/plugin-relay';
import { WebSocket, WebSocketServer } from 'ws';
import {
  AGENT_CONSOLE_PATH,
  CONSOLE_PATH_PREFIX,
  ConsoleClose,
  isConsoleKind,
  MAX_AGENT_CONSOLE_MESSAGE_BYTES,
  MAX_CONSOLE_FRAME_BYTES,
  parseAgentMessage,
  type ConsoleKind,
  type ServerToAgent,
} from '../protocol/console.ts';
import { createContext, type AppDeps } from './context.ts';
import { recordAudit } from './domain/audit.ts';
import { credentialKey, type Credential } from './domain/auth.ts';
import { consoleTarget, type ConsoleTarget } from './domain/console.ts';
import { isDomainError, NotAuthorizedError, NotFoundError, VmBusyError } from './domain/errors.ts';
import { idOf } from './graphql/ids.ts';
import type { LiveHub } from './live/hub.ts';
import type { Logger } from './logger.ts';
import type { OriginPolicy } from './origins.ts';
import { Quota } from './quota.ts';

/**
 * Output a browser may leave unread before its session is ended: a stalled tab must not grow the
 * server's memory. A screen sends more than a terminal: a few full frames of raw pixels.
 */
const MAX_UNREAD_BYTES: Record<ConsoleKind, number> = { serial: 1024 * 1024, graphics: 16 * 1024 * 1024 };
/** setTimeout's longest delay. */
const MAX_DELAY_MS = 2 ** 31 - 1;

interface Session {
  id: string;
  kind: ConsoleKind;
  browser: WebSocket;
  target: ConsoleTarget;
  credential: Credential;
  actor: string;
  openedAt: number;
  expiry?: NodeJS.Timeout;
  /** Running until the agent first answers. */
  unanswered?: NodeJS.Timeout;
}

/** A WebSocket close reason is at most 123 bytes of UTF-8. */
function closeReason(text: string): string {
  if (Buffer.byteLength(text) <= 123) return text;
  let kept = text;
  while (Buffer.byteLength(kept) > 120) kept = kept.slice(0, -1);
  return `${kept}…`;
}

/** The VM's global ID in `/console/<ID>`, as sent (a malformed escape is kept as is and found by no VM). */
function vmIdInPath(url: string): string {
  const encoded = url.split('?')[0]!.slice(CONSOLE_PATH_PREFIX.length, CONSOLE_PATH_PREFIX.length + 600);
  try {
    return decodeURIComponent(encoded).slice(0, 200);
  } catch {
    return encoded.slice(0, 200);
  }
}

/** The session kind `?kind=` asks for (serial when absent), or null for an unknown one. */
function kindInQuery(url: string): ConsoleKind | null {
  const kind = new URLSearchParams(url.split('?')[1] ?? '').get('kind') ?? 'serial';
  return isConsoleKind(kind) ? kind : null;
}

function closeCodeFor(error: unknown): number {
  if (error instanceof NotAuthorizedError) return ConsoleClose.FORBIDDEN;
  if (error instanceof NotFoundError) return ConsoleClose.NOT_FOUND;
  if (error instanceof VmBusyError) return ConsoleClose.NOT_RUNNING;
  return ConsoleClose.FAILED;
}

/**
 * VM consoles: a browser's socket at /console/<VM ID> relayed to the VM's host agent over the
 * agent's socket at /agent/console. Browsers authenticate like graphql-ws (session cookie, or
 * a bearer token in the Authorization header), must be operators, and hold at most
 * `maxConsoleSessionsPerCredential` sessions; each session is audited when it opens and closes,
 * and ends when its credential is revoked, signs out or expires. A session is relayed by the
 * server process holding both sockets: see agent/README.md for running several replicas.
 */
export function attachConsoleRelay(options: { deps: AppDeps; live: LiveHub; origins: OriginPolicy; clientAddress: (req: IncomingMessage) => string; logger: Logger }) {
  const { deps, live, origins, clientAddress, logger } = options;
  const config = deps.config;
  const browsers = new WebSocketServer({
    noServer: true,
    maxPayload: MAX_CONSOLE_FRAME_BYTES,
    // A page of another origin must not open a console with the visitor's session cookie.
    verifyClient: ({ req }: { req: IncomingMessage }) => !req.headers.cookie || origins.allows(req.headers.origin, req.headers.host),
  });
  const agentServer = new WebSocketServer({ noServer: true, maxPayload: MAX_AGENT_CONSOLE_MESSAGE_BYTES });
  /** Each host's console socket held by this process; a newer one replaces an older. */
  const agents = new Map<string, { socket: WebSocket; credential: Credential }>();
  const sessions = new Map<string, Session>();
  const perCredential = new Quota(config.maxConsoleSessionsPerCredential);

  const audit = (session: Pick<Session, 'actor' | 'target' | 'kind'>, action: 'openConsole' | 'closeConsole', outcome: string, details: Record<string, unknown>) =>
    recordAudit(deps.database.db, {
      actor: session.actor,
      action,
      targets: [encodeGlobalID('VM', session.target.vmId), encodeGlobalID('Host', session.target.hostId)],
      outcome,
      details: { vm: session.target.vmName, host: session.target.hostName, kind: session.kind, ...details },
    });

  const toAgent = (hostId: string, message: ServerToAgent) => {
    const agent = agents.get(hostId);
    if (agent?.socket.readyState === WebSocket.OPEN) agent.socket.send(JSON.stringify(message));
  };

  /** Ends a session once: tells whichever side is still there, frees its place, audits the close. */
  const end = (session: Session, code: number, reason: string, by: 'browser' | 'agent' | 'server') => {
    if (!sessions.delete(session.id)) return;
    clearTimeout(session.expiry);
    clearTimeout(session.unanswered);
    perCredential.release(credentialKey(session.credential));
    if (by !== 'agent') toAgent(session.target.hostId, { type: 'close', session: session.id });
    if (by !== 'browser') session.browser.close(code, closeReason(reason));
    void audit(session, 'closeConsole', 'OK', { reason, seconds: Math.round((Date.now() - session.openedAt) / 1000) }).catch((error) =>
      logger.error({ err: error }, 'auditing a console close failed'),
    );
  };

  browsers.on('connection', (socket: WebSocket, request: IncomingMessage) => {
    // Frames that arrive while the session is being checked wait for it.
    const early: { data: Buffer; isBinary: boolean }[] = [];
    const buffer = (data: Buffer, isBinary: boolean) => {
      if (early.length < 16) early.push({ data, isBinary });
    };
    socket.on('message', buffer);
    void (async () => {
      const context = await createContext(deps, {
        authorization: request.headers.authorization,
        cookieHeader: request.headers.cookie,
        clientAddress: clientAddress(request),
      });
      const principal = context.principal;
      if (principal.kind === 'anonymous') {
        const code = principal.rejected ? ConsoleClose.FORBIDDEN : ConsoleClose.UNAUTHENTICATED;
        socket.close(code, closeReason(principal.rejected ?? 'Sign in, or send a bearer token in the Authorization header'));
        return;
      }
      const kind = kindInQuery(request.url ?? '');
      if (!kind) {
        socket.close(ConsoleClose.BAD_REQUEST, 'Unknown console kind; use ?kind=serial or ?kind=graphics');
        return;
      }
      const globalId = vmIdInPath(request.url ?? '');
      let target: ConsoleTarget;
      try {
        target = await consoleTarget(deps.database.db, principal, idOf('VM', globalId), globalId);
      } catch (error) {
        if (!isDomainError(error)) throw error;
        socket.close(closeCodeFor(error), closeReason(error.message));
        // A refused attempt by a known caller is part of the trail, like a refused mutation.
        await recordAudit(deps.database.db, { actor: context.actor, action: 'openConsole', targets: [globalId], outcome: error.constructor.name, details: { vm: globalId, kind } });
        return;
      }
      const credential = principal.credential;
      if (!perCredential.take(credentialKey(credential))) {
        socket.close(ConsoleClose.TOO_MANY, closeReason(`At most ${perCredential.limit} console sessions per credential; close one first`));
        return;
      }
      const session: Session = { id: randomUUID(), kind, browser: socket, target, credential, actor: context.actor, openedAt: Date.now() };
      if (!agents.has(target.hostId) || socket.readyState !== WebSocket.OPEN) {
        perCredential.release(credentialKey(credential));
        socket.close(ConsoleClose.AGENT_UNAVAILABLE, closeReason(`The agent of host ${target.hostName} is not connected to this server; try again when the host is online`));
        return;
      }
      // Recorded before the first keystroke reaches the guest: no session goes unaudited.
      await audit(session, 'openConsole', 'OK', {});
      sessions.set(session.id, session);
      if (credential.expiresAt) {
        const left = Math.max(credential.expiresAt.getTime() - Date.now(), 0);
        session.expiry = setTimeout(() => end(session, ConsoleClose.FORBIDDEN, 'The credential expired', 'server'), Math.min(left, MAX_DELAY_MS));
      }
      socket.off('message', buffer);
      // A serial session takes text (keystrokes), a graphics session binary frames (RFB), each as sent.
      const forward = (data: Buffer, isBinary: boolean) => {
        if (kind === 'serial' && !isBinary) toAgent(target.hostId, { type: 'input', session: session.id, data: data.toString() });
        if (kind === 'graphics' && isBinary) toAgent(target.hostId, { type: 'bytes', session: session.id, base64: data.toString('base64') });
      };
      socket.on('message', forward);
      socket.on('close', () => end(session, ConsoleClose.ENDED, 'The browser closed the console', 'browser'));
      toAgent(target.hostId, { type: 'open', session: session.id, vm: target.vmName, kind });
      // An agent from before consoles never answers; the browser is told rather than left waiting.
      session.unanswered = setTimeout(
        () => end(session, ConsoleClose.FAILED, `The agent of host ${target.hostName} did not answer; it may need an update`, 'server'),
        config.consoleAgentAnswerMs,
      );
      for (const frame of early.splice(0)) forward(frame.data, frame.isBinary);
      if (socket.readyState !== WebSocket.OPEN) end(session, ConsoleClose.ENDED, 'The browser closed the console', 'browser');
    })().catch((error: unknown) => {
      logger.error({ err: error }, 'opening a console failed');
      if (socket.readyState === WebSocket.OPEN) socket.close(ConsoleClose.FAILED, 'The console could not be opened; try again');
    });
  });

  agentServer.on('connection', (socket: WebSocket, request: IncomingMessage) => {
    void (async () => {
      const context = await createContext(deps, { authorization: request.headers.authorization, clientAddress: clientAddress(request) });
      const principal = context.principal;
      if (principal.kind !== 'agent') {
        socket.close(principal.kind === 'user' ? ConsoleClose.FORBIDDEN : ConsoleClose.UNAUTHENTICATED, 'This socket is for host agents, with their host token');
        return;
      }
      const hostId = principal.host.id;
      const previous = agents.get(hostId);
      const mine = { socket, credential: principal.credential };
      agents.set(hostId, mine);
      previous?.socket.close(ConsoleClose.ENDED, 'Replaced by a newer connection of the same agent');
      socket.on('message', (data: Buffer, isBinary: boolean) => {
        const message = isBinary ? null : parseAgentMessage(data.toString());
        const session = message ? sessions.get(message.session) : undefined;
        // An agent speaks only for sessions on its own host.
        if (!message || !session || session.target.hostId !== hostId) return;
        clearTimeout(session.unanswered);
        if (message.type === 'closed') {
          end(session, ConsoleClose.ENDED, message.reason, 'agent');
          return;
        }
        if (session.browser.bufferedAmount > MAX_UNREAD_BYTES[session.kind]) {
          end(session, ConsoleClose.FAILED, 'The browser is not reading the console output; reopen it', 'server');
          return;
        }
        if (session.kind === 'serial' && message.type === 'output') session.browser.send(message.data);
        else if (session.kind === 'graphics' && message.type === 'bytes') session.browser.send(Buffer.from(message.base64, 'base64'));
        // An agent from before graphics consoles opens a serial session when asked for graphics.
        else end(session, ConsoleClose.FAILED, `The agent of host ${session.target.hostName} cannot open this kind of console; it may need an update`, 'server');
      });
      socket.on('close', () => {
        if (agents.get(hostId) !== mine) return;
        agents.delete(hostId);
        for (const session of [...sessions.values()]) {
          if (session.target.hostId === hostId) end(session, ConsoleClose.AGENT_UNAVAILABLE, `The agent of host ${session.target.hostName} disconnected`, 'agent');
        }
      });
    })().catch((error: unknown) => {
      logger.error({ err: error }, 'accepting an agent console socket failed');
      socket.close(ConsoleClose.FAILED, 'Try again');
    });
  });

  // A revoked session or token (sign-out, revokeApiToken, a lower role) ends its consoles in
  // every process; a rotated host token ends the agent's socket, and with it its sessions.
  const stopRevocations = live.on('credential:revoked', ({ payload: revoked }) => {
    for (const session of [...sessions.values()]) {
      if (session.credential.kind === revoked.kind && session.credential.id === revoked.id) end(session, ConsoleClose.FORBIDDEN, 'Credential revoked', 'server');
    }
    for (const agent of agents.values()) {
      if (agent.credential.kind === revoked.kind && agent.credential.id === revoked.id) agent.socket.close(ConsoleClose.FORBIDDEN, 'Credential revoked');
    }
  });

  return {
    /** Whether an upgrade request on this path is a console's. */
    handles(path: string) {
      return path === AGENT_CONSOLE_PATH || (path.startsWith(CONSOLE_PATH_PREFIX) && path.length > CONSOLE_PATH_PREFIX.length);
    },
    upgrade(request: IncomingMessage, socket: Duplex, head: Buffer, path: string) {
      const server = path === AGENT_CONSOLE_PATH ? agentServer : browsers;
      server.handleUpgrade(request, socket, head, (ws) => server.emit('connection', ws, request));
    },
    /** Open sessions in this process. */
    get sessionCount() {
      return sessions.size;
    },
    dispose() {
      stopRevocations();
      for (const session of [...sessions.values()]) end(session, 1001, 'The server is shutting down', 'server');
      for (const agent of agents.values()) agent.socket.close(1001, 'The server is shutting down');
      browsers.close();
      agentServer.close();
    },
  };
}
