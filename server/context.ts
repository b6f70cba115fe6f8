import type { Database } from './db/client.ts';
import type { Config } from './config.ts';
import type { PubSub } from './pubsub.ts';
import type { HostRow } from './domain/hosts.ts';
import { hostForToken } from './domain/hosts.ts';
import type { Services } from './domain/services.ts';

/** Per-process dependencies shared by every request. */
export interface AppDeps {
  database: Database;
  pubsub: PubSub;
  config: Config;
}

export interface Context extends AppDeps {
  db: Database['db'];
  /** The host whose agent token authenticated this request, if any. */
  agentHost: HostRow | null;
  /** Who is acting, for operations and device history. */
  actor: string;
  services: Services;
}

/** Reads a bearer token from an Authorization header value (HTTP) or connection parameter (graphql-ws). */
export function bearerToken(value: unknown): string | null {
  if (typeof value !== 'string') return null;
  const match = /^Bearer\s+(\S+)$/i.exec(value.trim());
  return match ? match[1]! : null;
}

export async function createContext(deps: AppDeps, authorization: unknown): Promise<Context> {
  const token = bearerToken(authorization);
  const agentHost = token ? await hostForToken(deps.database.db, token) : null;
  const actor = agentHost ? `agent:${agentHost.name}` : 'anonymous';
  return {
    ...deps,
    db: deps.database.db,
    agentHost,
    actor,
    services: { db: deps.database.db, actor, operationTimeoutMs: deps.config.operationTimeoutMs },
  };
}
