import { print } from 'graphql';
import { createClient, type Client } from 'graphql-ws';
import WebSocket from 'ws';
import type { TadaDocumentNode } from 'gql.tada';
import { CliError, EXIT, exitOf, type ExitCode } from './exit-codes.ts';

/** The variables argument: omitted when the document takes none, required when it needs some. */
type VariablesArgument<Variables> = {} extends Variables ? [variables?: Variables] : [variables: Variables];

interface GraphQLErrorBody {
  message: string;
  extensions?: { code?: unknown };
}

function isResponseBody(value: unknown): value is { data?: unknown; errors?: GraphQLErrorBody[] } {
  return typeof value === 'object' && value !== null && ('data' in value || 'errors' in value);
}

/** The exit status of an error the server threw rather than answered as data (its code is the error class). */
function exitOfGraphQLError(error: GraphQLErrorBody): ExitCode {
  const code = error.extensions?.code;
  if (typeof code !== 'string') return EXIT.failed;
  return code === 'DATABASE_UNAVAILABLE' ? EXIT.unavailable : exitOf(code);
}

function unreachable(server: string, error: unknown): CliError {
  const cause = error instanceof Error && error.cause instanceof Error ? error.cause.message : error instanceof Error ? error.message : String(error);
  return new CliError(`cannot reach the Passthru server at ${server}: ${cause}`, EXIT.unreachable);
}

export interface Subscription {
  /** Resolves when the server ends the subscription; rejects with a CliError when it fails. */
  readonly ended: Promise<void>;
  stop(): Promise<void>;
}

/** The Passthru API over HTTP (queries, mutations) and graphql-ws (subscriptions), as one user. */
export class Api {
  #socket: Client | null = null;

  constructor(
    readonly server: string,
    readonly token: string | null,
    /** A console session (`passthru login` holds one only while it mints a token). */
    public sessionCookie: string | null = null,
  ) {}

  #headers(): Record<string, string> {
    return {
      'content-type': 'application/json',
      ...(this.token ? { authorization: `Bearer ${this.token}` } : {}),
      ...(this.sessionCookie ? { cookie: this.sessionCookie } : {}),
    };
  }

  /** Sends a typed document; a GraphQL error becomes a CliError with the exit status of its kind. */
  async request<Result, Variables>(document: TadaDocumentNode<Result, Variables>, ...[variables]: VariablesArgument<Variables>): Promise<Result> {
    let response: Response;
    try {
      response = await fetch(`${this.server}/graphql`, {
        method: 'POST',
        headers: this.#headers(),
        body: JSON.stringify({ query: print(document), variables: variables ?? {} }),
      });
    } catch (error) {
      throw unreachable(this.server, error);
    }
    const session = response.headers.get('set-cookie')?.split(';')[0];
    if (session) this.sessionCookie = session;
    const body: unknown = await response.json().catch(() => null);
    if (!isResponseBody(body)) throw new CliError(`${this.server} answered HTTP ${response.status} without a GraphQL response; is it a Passthru server?`, EXIT.failed);
    const [first] = body.errors ?? [];
    if (first) throw new CliError(first.message, exitOfGraphQLError(first), typeof first.extensions?.code === 'string' ? first.extensions.code : null);
    // The server answered this document, whose result type gql.tada derived from schema.graphql.
    return body.data as Result;
  }

  #client(): Client {
    const token = this.token;
    this.#socket ??= createClient({
      url: `${this.server.replace(/^http/, 'ws')}/graphql`,
      webSocketImpl: WebSocket,
      connectionParams: token ? { authorization: `Bearer ${token}` } : {},
      retryAttempts: 0,
      lazy: true,
    });
    return this.#socket;
  }

  /** Streams a subscription's events to `onEvent` until stopped or ended by the server. */
  subscribe<Result, Variables>(document: TadaDocumentNode<Result, Variables>, variables: Variables, onEvent: (data: Result) => void): Subscription {
    let dispose = () => {};
    const ended = new Promise<void>((resolve, reject) => {
      dispose = this.#client().subscribe<Result>(
        { query: print(document), variables: variables ?? {} },
        {
          next: (event) => {
            const [first] = event.errors ?? [];
            if (first) reject(new CliError(first.message, exitOfGraphQLError(first)));
            else if (event.data) onEvent(event.data);
          },
          error: (error) => reject(this.#socketFailure(error)),
          complete: resolve,
        },
      );
    });
    return {
      ended,
      stop: async () => {
        dispose();
        await ended.catch(() => {});
      },
    };
  }

  #socketFailure(error: unknown): CliError {
    // A close frame: 4401 no credentials, 4403 a refused one; anything else before the socket
    // opened is an unreachable server.
    if (typeof error === 'object' && error !== null && 'code' in error && typeof error.code === 'number') {
      const reason = 'reason' in error && typeof error.reason === 'string' && error.reason ? error.reason : `closed with code ${error.code}`;
      if (error.code === 4401 || error.code === 4403) return new CliError(reason, EXIT.auth);
      if (error.code === 1006) return unreachable(this.server, new Error('the connection dropped'));
      return new CliError(`the server ended the subscription: ${reason}`, EXIT.failed);
    }
    if (Array.isArray(error)) {
      const [first] = error;
      return new CliError(typeof first?.message === 'string' ? first.message : 'the subscription failed', EXIT.failed);
    }
    return unreachable(this.server, error);
  }

  async close(): Promise<void> {
    await this.#socket?.dispose();
    this.#socket = null;
  }
}
