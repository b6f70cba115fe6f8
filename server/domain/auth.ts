import { randomBytes } from 'node:crypto';
import { availableParallelism } from 'node:os';
import { hash as argon2Hash, verify as argon2Verify } from '@node-rs/argon2';
import pLimit from 'p-limit';
import { and, count, eq, gt, inArray, isNull, lt, or } from 'drizzle-orm';
import type { Db } from '../db/client.ts';
import { isUniqueViolation } from '../db/errors.ts';
import { userRole } from '../db/schema/enums.ts';
import { apiTokens, hosts, sessions, users } from '../db/schema/index.ts';
import { inTransaction } from '../db/transaction.ts';
import { NotAuthorizedError, NotFoundError, ValidationError } from './errors.ts';
import type { HostRow } from './hosts.ts';
import { LABEL_MAX_LENGTH, usernameProblem } from '../../protocol/rules.ts';
import { hashSecret, newSecret } from './secrets.ts';

export type Role = (typeof userRole.enumValues)[number];
export type UserRow = typeof users.$inferSelect;
export type ApiTokenRow = typeof apiTokens.$inferSelect;

const ROLE_RANK: Record<Role, number> = { VIEWER: 1, OPERATOR: 2, ADMIN: 3 };

export function roleAtLeast(role: Role, needed: Role) {
  return ROLE_RANK[role] >= ROLE_RANK[needed];
}

/** Who is making a request, resolved once from its credentials. */
export type Principal =
  | { kind: 'anonymous'; rejected?: string }
  | { kind: 'user'; user: Pick<UserRow, 'id' | 'username' | 'role'>; role: Role; credential: Credential }
  | { kind: 'agent'; host: HostRow; credential: Credential };
export type UserPrincipal = Extract<Principal, { kind: 'user' }>;
export type AgentPrincipal = Extract<Principal, { kind: 'agent' }>;

/** The credential behind a principal; revoking it ends its live subscriptions. */
export interface Credential {
  kind: 'session' | 'token' | 'host';
  id: string;
  expiresAt: Date | null;
  /** For API tokens: the token's own name, shown in the audit trail. */
  name?: string;
}

/** What names a credential across kinds, for counting what it holds. */
export const credentialKey = (credential: Pick<Credential, 'kind' | 'id'>) => `${credential.kind}:${credential.id}`;

export const ANONYMOUS: Principal = { kind: 'anonymous' };

export function actorOf(principal: Principal): string {
  switch (principal.kind) {
    case 'anonymous':
      return 'anonymous';
    case 'agent':
      return `agent:${principal.host.name}`;
    case 'user':
      return principal.credential.kind === 'token'
        ? `token:${principal.user.username}/${principal.credential.name}`
        : `user:${principal.user.username}`;
  }
}

// --- users --------------------------------------------------------------------------------

function checkPassword(password: string) {
  if (password.length < 12 || password.length > 1024) {
    throw new ValidationError('password', 'A password must be 12 to 1024 characters long');
  }
}

export async function createUser(db: Db, input: { username: string; password: string; role: Role }) {
  const usernameRefusal = usernameProblem(input.username);
  if (usernameRefusal) throw new ValidationError('username', usernameRefusal);
  checkPassword(input.password);
  try {
    const [user] = await db
      .insert(users)
      .values({ username: input.username, role: input.role, passwordHash: await argon2Hash(input.password) })
      .returning();
    return user!;
  } catch (error) {
    if (isUniqueViolation(error)) throw new ValidationError('username', `A user named "${input.username}" already exists`);
    throw error;
  }
}

/**
 * Changes a user's role or password. A new password or a lower role ends every session; a new
 * password also revokes the user's API tokens unless `keepTokens` (a reset after a leak must end
 * whatever the leaked password minted); a lower role revokes the tokens above it.
 */
export async function updateUser(db: Db, userId: string, changes: { role?: Role | null; password?: string | null; keepTokens?: boolean }) {
  if (changes.password != null) checkPassword(changes.password);
  return inTransaction(db, async (tx, bus) => {
    const [user] = await tx.select().from(users).where(eq(users.id, userId)).for('no key update');
    if (!user) throw new NotFoundError('User', userId);
    const [updated] = await tx
      .update(users)
      .set({
        ...(changes.role ? { role: changes.role } : {}),
        ...(changes.password != null ? { passwordHash: await argon2Hash(changes.password) } : {}),
      })
      .where(eq(users.id, userId))
      .returning();
    if (changes.password != null || (changes.role && !roleAtLeast(changes.role, user.role))) {
      const ended = await tx.delete(sessions).where(eq(sessions.userId, userId)).returning({ id: sessions.id });
      for (const session of ended) bus.credentialRevoked({ kind: 'session', id: session.id });
    }
    const revokedRoles =
      changes.password != null && !changes.keepTokens
        ? userRole.enumValues
        : changes.role && !roleAtLeast(changes.role, user.role)
          ? userRole.enumValues.filter((role) => !roleAtLeast(changes.role!, role))
          : [];
    if (revokedRoles.length > 0) {
      const revoked = await tx
        .update(apiTokens)
        .set({ revokedAt: new Date() })
        .where(and(eq(apiTokens.userId, userId), inArray(apiTokens.role, revokedRoles), isNull(apiTokens.revokedAt)))
        .returning({ id: apiTokens.id });
      for (const token of revoked) bus.credentialRevoked({ kind: 'token', id: token.id });
    }
    return updated!;
  });
}

/**
 * Creates the first admin when there are no users: with PASSTHRU_ADMIN_PASSWORD if set, else
 * with a generated password that is returned (to be printed once) and never stored in clear.
 */
export async function ensureFirstAdmin(db: Db, configured: { username: string; password: string | undefined }) {
  const [existing] = await db.select({ n: count() }).from(users);
  if ((existing?.n ?? 0) > 0) return null;
  const password = configured.password ?? randomBytes(18).toString('base64url');
  try {
    await createUser(db, { username: configured.username, password, role: 'ADMIN' });
  } catch (error) {
    // Another server process created it first.
    if (error instanceof ValidationError && error.field === 'username') return null;
    throw error;
  }
  return { username: configured.username, generatedPassword: configured.password ? null : password };
}

// --- sign-in ------------------------------------------------------------------------------

export const SESSION_TTL_MS = 12 * 60 * 60 * 1000;

/** Longest username a sign-in looks up (and counts attempts under); real ones are shorter. */
export const USERNAME_MAX = 64;

/** Password checks at once: argon2 is made to be costly, so a burst of sign-ins waits its turn instead of taking every core. */
export const passwordChecks = pLimit(Math.max(2, availableParallelism()));

/** Checks a password and opens a session; the same answer for an unknown user and a wrong password. */
export async function signIn(db: Db, username: string, password: string) {
  const [user] = await db.select().from(users).where(eq(users.username, username.slice(0, USERNAME_MAX)));
  // Verify against a dummy hash for unknown users too, so timing does not reveal which usernames exist.
  const valid = await passwordChecks(() => argon2Verify(user?.passwordHash ?? DUMMY_HASH, password.slice(0, 1024)).catch(() => false));
  if (!user || !valid) throw new NotAuthorizedError('Wrong username or password');
  const token = newSecret('pth_session');
  const expiresAt = new Date(Date.now() + SESSION_TTL_MS);
  const [session] = await db.insert(sessions).values({ userId: user.id, tokenHash: hashSecret(token), expiresAt }).returning();
  return { user, token, session: session! };
}

const DUMMY_HASH = await argon2Hash(randomBytes(16).toString('hex'));

/** Drops sessions past their expiry; they no longer authenticate anyway. */
export async function deleteExpiredSessions(db: Db, now = new Date()) {
  const dropped = await db.delete(sessions).where(lt(sessions.expiresAt, now)).returning({ id: sessions.id });
  return dropped.length;
}

export async function signOut(db: Db, sessionId: string) {
  return inTransaction(db, async (tx, bus) => {
    await tx.delete(sessions).where(eq(sessions.id, sessionId));
    bus.credentialRevoked({ kind: 'session', id: sessionId });
  });
}

// --- API tokens ---------------------------------------------------------------------------

export async function createApiToken(db: Db, owner: { id: string; role: Role }, input: { name: string; role: Role; expiresAt: Date | null }) {
  const name = input.name.trim();
  if (name.length < 1 || name.length > LABEL_MAX_LENGTH) throw new ValidationError('name', `A token name is 1 to ${LABEL_MAX_LENGTH} characters`);
  if (!roleAtLeast(owner.role, input.role)) {
    throw new ValidationError('role', `A token's role cannot be higher than its owner's (${owner.role})`);
  }
  if (input.expiresAt && input.expiresAt.getTime() <= Date.now()) throw new ValidationError('expiresAt', 'The expiry must be in the future');
  const token = newSecret('pth_api');
  const [row] = await db
    .insert(apiTokens)
    .values({ userId: owner.id, name, role: input.role, tokenHash: hashSecret(token), expiresAt: input.expiresAt })
    .returning();
  return { apiToken: row!, token };
}

/**
 * An admin API token for a component started beside the server (the demo fleet of
 * scripts/demo.ts), in the name of the first admin; the component revokes it once done.
 * Earlier tokens of the same name are revoked first, so a run killed before it revoked its own
 * leaves none live past the next start.
 */
export async function issueServiceToken(db: Db, name: string) {
  const [admin] = await db.select().from(users).where(eq(users.role, 'ADMIN')).orderBy(users.createdAt).limit(1);
  if (!admin) throw new Error('no admin user to issue a service token for');
  await db
    .update(apiTokens)
    .set({ revokedAt: new Date() })
    .where(and(eq(apiTokens.userId, admin.id), eq(apiTokens.name, name), isNull(apiTokens.revokedAt)));
  return createApiToken(db, admin, { name, role: 'ADMIN', expiresAt: null });
}

/** Revokes a token; only its owner or an admin may. Its live subscriptions end at once. */
export async function revokeApiToken(db: Db, actor: { id: string; role: Role }, tokenId: string) {
  return inTransaction(db, async (tx, bus) => {
    const [row] = await tx.select().from(apiTokens).where(eq(apiTokens.id, tokenId)).for('no key update');
    // Someone else's token looks exactly like a missing one.
    if (!row || (row.userId !== actor.id && actor.role !== 'ADMIN')) throw new NotFoundError('ApiToken', tokenId);
    const [revoked] = await tx.update(apiTokens).set({ revokedAt: row.revokedAt ?? new Date() }).where(eq(apiTokens.id, tokenId)).returning();
    bus.credentialRevoked({ kind: 'token', id: tokenId });
    return revoked!;
  });
}

// --- resolving credentials ----------------------------------------------------------------

/** The principal behind a bearer token or session cookie; anonymous when neither is valid. */
export async function resolvePrincipal(db: Db, bearer: string | null, sessionToken: string | null): Promise<Principal> {
  const now = new Date();
  if (bearer?.startsWith('pth_host_')) {
    const [host] = await db.select().from(hosts).where(eq(hosts.tokenHash, hashSecret(bearer)));
    return host ? { kind: 'agent', host, credential: { kind: 'host', id: host.id, expiresAt: null } } : REJECTED;
  }
  if (bearer?.startsWith('pth_api_')) {
    const [row] = await db
      .select({
        token: { id: apiTokens.id, name: apiTokens.name, role: apiTokens.role, expiresAt: apiTokens.expiresAt, lastUsedAt: apiTokens.lastUsedAt },
        user: { id: users.id, username: users.username, role: users.role },
      })
      .from(apiTokens)
      .innerJoin(users, eq(users.id, apiTokens.userId))
      .where(and(eq(apiTokens.tokenHash, hashSecret(bearer)), isNull(apiTokens.revokedAt), or(isNull(apiTokens.expiresAt), gt(apiTokens.expiresAt, now))));
    if (!row) return REJECTED;
    // Recorded to the minute: automation calling many times a second does not write, nor even
    // send an UPDATE, each time.
    const aMinuteAgo = new Date(now.getTime() - 60_000);
    if (!row.token.lastUsedAt || row.token.lastUsedAt < aMinuteAgo) {
      await db
        .update(apiTokens)
        .set({ lastUsedAt: now })
        .where(and(eq(apiTokens.id, row.token.id), or(isNull(apiTokens.lastUsedAt), lt(apiTokens.lastUsedAt, aMinuteAgo))));
    }
    // A token never acts above its owner's current role.
    const role = roleAtLeast(row.user.role, row.token.role) ? row.token.role : row.user.role;
    return { kind: 'user', user: row.user, role, credential: { kind: 'token', id: row.token.id, expiresAt: row.token.expiresAt, name: row.token.name } };
  }
  if (sessionToken) {
    const [row] = await db
      .select({ session: sessions, user: { id: users.id, username: users.username, role: users.role } })
      .from(sessions)
      .innerJoin(users, eq(users.id, sessions.userId))
      .where(and(eq(sessions.tokenHash, hashSecret(sessionToken)), gt(sessions.expiresAt, now)));
    if (!row) return { kind: 'anonymous', rejected: 'Your session has ended; sign in again' };
    return { kind: 'user', user: row.user, role: row.user.role, credential: { kind: 'session', id: row.session.id, expiresAt: row.session.expiresAt } };
  }
  return bearer ? REJECTED : ANONYMOUS;
}

const REJECTED: Principal = { kind: 'anonymous', rejected: 'The token is invalid, expired or revoked' };
