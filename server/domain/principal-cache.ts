import type { Db } from '../db/client.ts';
import { resolvePrincipal, type Credential, type Principal } from './auth.ts';
import { hashSecret } from './secrets.ts';

type Cacheable = Extract<Principal, { kind: 'user' | 'agent' }>;

/**
 * API tokens' and host tokens' principals by the hash of the token, kept for a few seconds so
 * automation and agents calling many times a second need no authentication read. Revocation
 * (a revoked API token, a rotated host token) drops an entry at once (`forget`, from the change
 * bus in every process), and an entry is never used past the token's expiry. Sessions are read
 * each time (their expiry and sign-out are decided by their row). An agent's heartbeat answers
 * with the host row as its principal was resolved, at most the cache's few seconds old, as a
 * graphql-ws connection's always was.
 */
export class PrincipalCache {
  readonly #entries = new Map<string, { principal: Cacheable; until: number }>();

  constructor(
    private readonly ttlMs = 5_000,
    private readonly limit = 10_000,
  ) {}

  /** The principal behind these credentials: from the cache when fresh, else resolved and kept. */
  async resolve(db: Db, bearer: string | null, sessionToken: string | null): Promise<Principal> {
    // API tokens and host tokens: automation and agents call many times a second with the same one.
    if (!bearer?.startsWith('pth_api_') && !bearer?.startsWith('pth_host_')) return resolvePrincipal(db, bearer, sessionToken);
    const key = hashSecret(bearer);
    const now = Date.now();
    const entry = this.#entries.get(key);
    const expiresAt = entry?.principal.credential.expiresAt;
    if (entry && entry.until > now && (!expiresAt || expiresAt.getTime() > now)) return entry.principal;
    this.#entries.delete(key);
    const principal = await resolvePrincipal(db, bearer, sessionToken);
    if (principal.kind === 'user' || principal.kind === 'agent') {
      // Oldest first: past the limit, the entry kept longest goes.
      if (this.#entries.size >= this.limit) this.#entries.delete(this.#entries.keys().next().value ?? key);
      this.#entries.set(key, { principal, until: now + this.ttlMs });
    }
    return principal;
  }

  /** Drops the entries of a revoked session or token. */
  forget(credential: { kind: Credential['kind']; id: string }) {
    for (const [key, { principal }] of this.#entries) {
      if (principal.credential.kind === credential.kind && principal.credential.id === credential.id) this.#entries.delete(key);
    }
  }

  /** Drops every entry of a user whose role or password changed. */
  forgetUser(userId: string) {
    for (const [key, { principal }] of this.#entries) if (principal.kind === 'user' && principal.user.id === userId) this.#entries.delete(key);
  }
}
