import { parse as parseCookies, serialize as serializeCookie } from 'cookie';
import type { Database } from './db/client.ts';
import type { Config } from './config.ts';
import type { LiveHub, LiveSource } from './live/hub.ts';
import { actorOf, type Principal } from './domain/auth.ts';
import { PrincipalCache } from './domain/principal-cache.ts';
import type { Services } from './domain/services.ts';
import type { HeartbeatBatcher } from './domain/heartbeats.ts';
import type { LoginLimiter } from './login-limiter.ts';
import type { Metrics } from './metrics.ts';

/** Per-process dependencies shared by every request. */
export interface AppDeps {
  database: Database;
  /** Committed changes, for subscriptions (a shared execution's own view of it on multiplexed sockets). */
  live: LiveSource;
  config: Config;
  loginLimiter: LoginLimiter;
  heartbeats: HeartbeatBatcher;
  /** Recently resolved principals, so a request usually needs no authentication read. */
  principals: PrincipalCache;
  metrics: Metrics;
}

/** A principal cache that drops a credential the moment any process revokes it. */
export function revocablePrincipalCache(live: LiveHub): PrincipalCache {
  const cache = new PrincipalCache();
  live.on('credential:revoked', ({ payload }) => cache.forget(payload));
  return cache;
}

export const SESSION_COOKIE = 'passthru_session';

/** What a request or a graphql-ws connection presents. */
export interface Presented {
  authorization?: unknown;
  cookieHeader?: string | null;
  clientAddress?: string;
  /** Collects Set-Cookie headers for the HTTP response (absent on sockets). */
  setCookies?: string[];
}

/**
 * What a resolver sees: the shared dependencies but the database handles, of which it gets the
 * one it should use as `db` (the change feed's pool for subscriptions), and what the domain
 * commands need (`Services`), so it passes itself to them.
 */
export interface Context extends Omit<AppDeps, 'database'>, Services {
  principal: Principal;
  clientAddress: string;
  setSessionCookie(token: string | null, expiresAt?: Date): void;
}

/** Reads a bearer token from an Authorization header value (HTTP) or connection parameter (graphql-ws). */
export function bearerToken(value: unknown): string | null {
  if (typeof value !== 'string' || value.length > 512) return null;
  const match = /^Bearer\s+(\S+)$/i.exec(value.trim());
  return match ? match[1]! : null;
}

export function sessionTokenOf(cookieHeader: string | null | undefined): string | null {
  if (!cookieHeader || cookieHeader.length > 8192) return null;
  return parseCookies(cookieHeader)[SESSION_COOKIE] ?? null;
}

export async function createContext(deps: AppDeps, presented: Presented): Promise<Context> {
  const principal = await deps.principals.resolve(deps.database.authDb, bearerToken(presented.authorization), sessionTokenOf(presented.cookieHeader));
  const { database, ...shared } = deps;
  return {
    ...shared,
    db: database.db,
    principal,
    actor: actorOf(principal),
    operationTimeoutMs: deps.config.operationTimeoutMs,
    operationQueueTimeoutMs: deps.config.operationQueueTimeoutMs,
    clientAddress: presented.clientAddress ?? 'unknown',
    setSessionCookie(token, expiresAt) {
      presented.setCookies?.push(
        serializeCookie(SESSION_COOKIE, token ?? '', {
          httpOnly: true,
          sameSite: 'strict',
          secure: deps.config.secureCookies,
          path: '/',
          ...(token ? { expires: expiresAt } : { maxAge: 0 }),
        }),
      );
    },
  };
}
