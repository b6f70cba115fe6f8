// The agent's console socket: one WebSocket to the server's /agent/console, authenticated with
// the host token like the graphql-ws connection, carrying every console session on this host
// (protocol/console.ts). Kept apart from graphql-ws because console traffic is a byte
// stream, not operations: it must not go through the change log, and a flood of output must
// not delay an operation's outcome.

import type { Logger } from 'pino';
import { WebSocket } from 'ws';
import type { ConsoleHandlers, ConsoleSession, HostBackend } from './backend.ts';
import { AGENT_CONSOLE_PATH, MAX_AGENT_CONSOLE_MESSAGE_BYTES, MAX_CONSOLE_FRAME_BYTES, parseServerMessage, type AgentToServer, type ConsoleKind } from '../protocol/console.ts';
import { backoffDelay, DEFAULT_BACKOFF, type BackoffOptions } from './retry.ts';

/** The console socket's URL on the server at `serverUrl` (http(s):// or ws(s)://). */
export function consoleUrl(serverUrl: string): string {
  const url = new URL(serverUrl);
  if (url.protocol === 'http:') url.protocol = 'ws:';
  else if (url.protocol === 'https:') url.protocol = 'wss:';
  url.pathname = AGENT_CONSOLE_PATH;
  url.search = '';
  return url.toString();
}

export interface ConsoleLinkOptions {
  serverUrl: string;
  token: string;
  backend: Pick<HostBackend, 'openConsole' | 'openGraphics'>;
  logger: Logger;
  backoff?: BackoffOptions;
  /** Sessions open at once on this host, at most; more are refused with a reason. Default 16. */
  maxSessions?: number;
}

/** An open session, by what it carries. */
type OpenSession = { kind: 'serial'; session: ConsoleSession } | { kind: 'graphics'; session: ConsoleSession<Buffer> };

/** Bytes per `bytes` message: their base64 fits in a console frame. */
const BYTES_PER_MESSAGE = (MAX_CONSOLE_FRAME_BYTES / 4) * 3;

/** Keeps the console socket open until stop(), and runs the sessions the server opens on it. */
export class ConsoleLink {
  readonly #options: ConsoleLinkOptions;
  readonly #sessions = new Map<string, OpenSession | 'opening'>();
  #socket: WebSocket | null = null;
  #failures = 0;
  #retry: NodeJS.Timeout | undefined;
  #stopped = false;

  constructor(options: ConsoleLinkOptions) {
    this.#options = options;
  }

  get sessions(): number {
    return this.#sessions.size;
  }

  start(): this {
    this.#connect();
    return this;
  }

  stop() {
    this.#stopped = true;
    clearTimeout(this.#retry);
    this.#endAll();
    this.#socket?.close(1001, 'agent stopping');
  }

  #connect() {
    if (this.#stopped) return;
    const socket = new WebSocket(consoleUrl(this.#options.serverUrl), {
      headers: { authorization: `Bearer ${this.#options.token}` },
      maxPayload: MAX_AGENT_CONSOLE_MESSAGE_BYTES,
    });
    this.#socket = socket;
    socket.on('open', () => {
      this.#failures = 0;
      this.#options.logger.info('console link connected');
    });
    socket.on('message', (raw, isBinary) => {
      const message = isBinary ? null : parseServerMessage(raw.toString());
      if (!message) return;
      if (message.type === 'open') void this.#open(message.session, message.vm, message.kind);
      else if (message.type === 'input') {
        const open = this.#sessions.get(message.session);
        if (open && open !== 'opening' && open.kind === 'serial') open.session.write(message.data);
      } else if (message.type === 'bytes') {
        const open = this.#sessions.get(message.session);
        if (open && open !== 'opening' && open.kind === 'graphics') open.session.write(Buffer.from(message.base64, 'base64'));
      } else {
        const session = this.#sessions.get(message.session);
        this.#sessions.delete(message.session);
        if (session && session !== 'opening') session.session.close();
      }
    });
    // 'close' follows; a failed dial is retried there.
    socket.on('error', () => {});
    socket.on('close', (code, reason) => {
      if (this.#socket !== socket) return;
      this.#socket = null;
      // Without the socket no one reads the sessions: end them, the browser sees its socket close.
      this.#endAll();
      if (this.#stopped) return;
      // The host token was refused: the graphql-ws client reports that and stops the agent.
      const delayMs = backoffDelay(this.#failures++, this.#options.backoff ?? DEFAULT_BACKOFF);
      this.#options.logger.info({ code, reason: reason.toString() || undefined, delayMs }, 'console link closed; reconnecting');
      this.#retry = setTimeout(() => this.#connect(), delayMs);
    });
  }

  #send(message: AgentToServer) {
    if (this.#socket?.readyState === WebSocket.OPEN) this.#socket.send(JSON.stringify(message));
  }

  async #open(id: string, vm: string, kind: ConsoleKind) {
    if (this.#sessions.has(id)) return;
    const limit = this.#options.maxSessions ?? 16;
    if (this.#sessions.size >= limit) {
      this.#send({ type: 'closed', session: id, reason: `This host serves at most ${limit} console sessions at once` });
      return;
    }
    this.#sessions.set(id, 'opening');
    try {
      const end: ConsoleHandlers['end'] = (reason) => {
        if (!this.#sessions.delete(id)) return;
        this.#send({ type: 'closed', session: id, reason });
      };
      const open: OpenSession =
        kind === 'serial'
          ? {
              kind,
              session: await this.#options.backend.openConsole(vm, {
                output: (data) => {
                  // Long output goes in frames the server accepts.
                  for (let at = 0; at < data.length; at += MAX_CONSOLE_FRAME_BYTES / 4) {
                    this.#send({ type: 'output', session: id, data: data.slice(at, at + MAX_CONSOLE_FRAME_BYTES / 4) });
                  }
                },
                end,
              }),
            }
          : {
              kind,
              session: await this.#options.backend.openGraphics(vm, {
                output: (data) => {
                  for (let at = 0; at < data.length; at += BYTES_PER_MESSAGE) {
                    this.#send({ type: 'bytes', session: id, base64: data.subarray(at, at + BYTES_PER_MESSAGE).toString('base64') });
                  }
                },
                end,
              }),
            };
      // Closed by the server (or ended by the guest) while opening.
      if (this.#sessions.get(id) !== 'opening') {
        open.session.close();
        return;
      }
      this.#sessions.set(id, open);
      this.#options.logger.info({ vm, session: id, kind }, 'console session opened');
    } catch (error) {
      this.#sessions.delete(id);
      const reason = error instanceof Error ? error.message : String(error);
      this.#options.logger.warn({ vm, session: id, err: reason }, 'console session refused');
      this.#send({ type: 'closed', session: id, reason });
    }
  }

  #endAll() {
    for (const open of this.#sessions.values()) if (open !== 'opening') open.session.close();
    this.#sessions.clear();
  }
}
