import { print } from 'graphql';
import { createClient, type Client } from 'graphql-ws';
import WebSocket from 'ws';
import type { TadaDocumentNode } from 'gql.tada';

/** A document from protocol/'s `graphql()` tag: its result and variables are typed from schema.graphql. */
export type Document<Result, Variables> = TadaDocumentNode<Result, Variables>;
/** The variables argument: omitted when the document takes none, required when it needs some. */
type VariablesArgument<Variables> = {} extends Variables ? [variables?: Variables] : [variables: Variables];

const source = (query: string | Document<unknown, unknown>) => (typeof query === 'string' ? query : print(query));

export interface GraphQLResponse<T> {
  data?: T;
  errors?: { message: string; extensions?: Record<string, unknown> }[];
}

/** A GraphQL client over real HTTP and the real graphql-ws protocol, as any user or agent would use. */
export class TestClient {
  private ws: Client | null = null;

  constructor(
    readonly url: string,
    readonly token: string | null = null,
    /** A session cookie (`passthru_session=...`), as a browser would send it. */
    readonly cookie: string | null = null,
  ) {}

  private headers(): Record<string, string> {
    return {
      ...(this.token ? { authorization: `Bearer ${this.token}` } : {}),
      ...(this.cookie ? { cookie: this.cookie } : {}),
    };
  }

  /** Sends a typed document, or raw text (for tests of malformed and hostile requests). */
  async request<Result, Variables>(document: Document<Result, Variables>, ...[variables]: VariablesArgument<Variables>): Promise<GraphQLResponse<Result>>;
  async request(query: string, variables?: Record<string, unknown>): Promise<GraphQLResponse<unknown>>;
  async request(query: string | Document<unknown, unknown>, variables: unknown = {}): Promise<GraphQLResponse<unknown>> {
    return this.post(source(query), variables);
  }

  /** Runs a query and fails loudly on GraphQL errors; returns `data`. */
  async data<Result, Variables>(document: Document<Result, Variables>, ...[variables]: VariablesArgument<Variables>): Promise<Result>;
  async data(query: string | Document<unknown, unknown>, variables: unknown = {}): Promise<unknown> {
    const result = await this.post(source(query), variables);
    if (result.errors?.length) throw new Error(`GraphQL errors: ${JSON.stringify(result.errors)}`);
    return result.data;
  }

  private async post(query: string, variables: unknown): Promise<GraphQLResponse<unknown>> {
    const response = await fetch(`${this.url}/graphql`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...this.headers() },
      body: JSON.stringify({ query, variables }),
    });
    return (await response.json()) as GraphQLResponse<unknown>;
  }

  /** Close events of the socket, for tests of how the server ends connections. */
  readonly closes: { code: number; reason: string }[] = [];

  private socket(): Client {
    const cookieHeader: Record<string, string> = this.cookie ? { cookie: this.cookie } : {};
    this.ws ??= createClient({
      url: `${this.url.replace(/^http/, 'ws')}/graphql`,
      webSocketImpl: class extends WebSocket {
        constructor(address: string, protocols: string[]) {
          super(address, protocols, { headers: cookieHeader });
        }
      },
      lazy: true,
      retryAttempts: 0,
      connectionParams: this.token ? { authorization: `Bearer ${this.token}` } : {},
      on: {
        closed: (event) => {
          const { code, reason } = event as { code: number; reason: string };
          this.closes.push({ code, reason: String(reason) });
        },
      },
    });
    return this.ws;
  }

  /** Subscribes over graphql-ws; collects every event until `close()` is called. */
  subscribe<Result, Variables>(document: Document<Result, Variables>, ...[variables]: VariablesArgument<Variables>): Subscription<Result>;
  subscribe(query: string | Document<unknown, unknown>, variables: Record<string, unknown> = {}): Subscription<unknown> {
    return watch(this.socket(), source(query), variables);
  }

  async close() {
    await this.ws?.dispose();
    this.ws = null;
  }
}

/** Collects every event of one subscription on `socket` until `close()` is called. */
function watch<T>(socket: Client, query: string, variables: Record<string, unknown>) {
  const events: GraphQLResponse<T>[] = [];
  const waiters: (() => void)[] = [];
  let ended = false;
  const dispose = socket.subscribe<T>(
    { query, variables },
    {
      next: (value) => {
        events.push(value as GraphQLResponse<T>);
        waiters.splice(0).forEach((wake) => wake());
      },
      error: (error) => {
        events.push({ errors: [{ message: String((error as Error)?.message ?? JSON.stringify(error)) }] });
        ended = true;
        waiters.splice(0).forEach((wake) => wake());
      },
      complete: () => {
        ended = true;
        waiters.splice(0).forEach((wake) => wake());
      },
    },
  );
  return {
    events,
    get ended() {
      return ended;
    },
    /** Resolves with the first event (in arrival order, already received or not) that passes `match`. */
    async next(match: (event: GraphQLResponse<T>) => boolean = () => true, timeoutMs = 10_000): Promise<GraphQLResponse<T>> {
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        const found = events.find(match);
        if (found) return found;
        if (ended) throw new Error(`subscription ended without a matching event; got ${JSON.stringify(events)}`);
        const left = deadline - Date.now();
        if (left <= 0) throw new Error(`no matching event within ${timeoutMs} ms; got ${JSON.stringify(events)}`);
        await new Promise<void>((resolve) => {
          const timer = setTimeout(resolve, left);
          waiters.push(() => {
            clearTimeout(timer);
            resolve();
          });
        });
      }
    },
    close: () => dispose(),
  };
}
export type Subscription<T> = ReturnType<typeof watch<T>>;

/** Polls `check` until it returns a truthy value. */
export async function eventually<T>(check: () => Promise<T | false | null | undefined>, timeoutMs = 10_000, stepMs = 50): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value) return value;
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await new Promise((resolve) => setTimeout(resolve, stepMs));
  }
}

type Named = { __typename?: string };
const named = <Value extends Named, Name extends string>(value: Value, typename: Name): value is Extract<Value, { __typename?: Name }> => value.__typename === typename;

/** A union field's answer as the member `typename` the test expects (the document selects `__typename`); any other answer fails the test, shown. */
export function member<Value extends Named, Name extends NonNullable<Value['__typename']>>(value: Value, typename: Name): Extract<Value, { __typename?: Name }> {
  if (!named(value, typename)) throw new Error(`expected a ${typename}, got ${JSON.stringify(value)}`);
  return value;
}
