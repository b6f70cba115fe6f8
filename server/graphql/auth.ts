import { builder } from './builder.ts';
import { idOf } from './ids.ts';
import { createApiToken, createUser, revokeApiToken, signIn, signOut, updateUser, USERNAME_MAX, type ApiTokenRow, type UserPrincipal, type UserRow } from '../domain/auth.ts';
import { NotAuthorizedError, NotFoundError, TooManyAttemptsError, ValidationError } from '../domain/errors.ts';
import { userRole } from '../db/schema/enums.ts';
import { USERNAME_RULE } from '../../protocol/rules.ts';

export const RoleEnum = builder.enumType('Role', {
  description: 'What a user or token may do; each role includes the ones before it.',
  values: {
    VIEWER: { description: 'Read everything and subscribe to changes.' },
    OPERATOR: { description: 'Also detach, attach, assign and release devices; provision, power and delete VMs.' },
    ADMIN: { description: 'Also manage plans, clusters, host enrollment, users and everyone’s tokens.' },
  } satisfies Record<(typeof userRole.enumValues)[number], unknown>,
});

export const User = builder.drizzleNode('users', {
  name: 'User',
  description: 'A person who signs in to Passthru.',
  id: { column: (u) => u.id },
  // The password hash is never selectable.
  select: { columns: { id: true, username: true, role: true, createdAt: true } },
  fields: (t) => ({
    username: t.exposeString('username', { description: 'Sign-in name.' }),
    role: t.expose('role', { type: RoleEnum, description: 'What the user may do.' }),
    createdAt: t.expose('createdAt', { type: 'DateTime', description: 'When the user was created.' }),
  }),
});

export const ApiToken = builder.drizzleNode('apiTokens', {
  name: 'ApiToken',
  description: 'A bearer token for automation. Its secret is shown once, at creation; only a hash is kept.',
  id: { column: (t) => t.id },
  select: { columns: { id: true, name: true, role: true, createdAt: true, expiresAt: true, revokedAt: true, lastUsedAt: true } },
  fields: (t) => ({
    name: t.exposeString('name', { description: 'What the token is for.' }),
    role: t.expose('role', { type: RoleEnum, description: 'The most it may do (never more than its owner).' }),
    createdAt: t.expose('createdAt', { type: 'DateTime', description: 'When it was created.' }),
    expiresAt: t.expose('expiresAt', { type: 'DateTime', nullable: true, description: 'When it stops working; null for never.' }),
    revokedAt: t.expose('revokedAt', { type: 'DateTime', nullable: true, description: 'When it was revoked.' }),
    lastUsedAt: t.expose('lastUsedAt', { type: 'DateTime', nullable: true, description: 'When it was last presented.' }),
    owner: t.relation('user', { description: 'The user it acts for.' }),
  }),
});

/** The acting user as token rules see it: a token acts with its own role, capped by its owner's. */
const actingUser = (principal: UserPrincipal) => ({ id: principal.user.id, role: principal.role });

builder.queryFields((t) => ({
  me: t.drizzleField({
    type: 'users',
    nullable: true,
    description: 'The signed-in user (or the owner of the API token); null when anonymous.',
    skipTypeScopes: true,
    resolve: (query, _root, _args, ctx) =>
      ctx.principal.kind === 'user' ? ctx.db.query.users.findFirst(query({ where: { id: ctx.principal.user.id } })) : null,
  }),
  users: t.withAuth({ admin: true }).drizzleField({
    type: ['users'],
    description: 'Every user, by name. Admin.',
    resolve: (query, _root, _args, ctx) => ctx.db.query.users.findMany(query({ orderBy: { username: 'asc' } })),
  }),
  apiTokens: t.withAuth({ viewer: true }).drizzleField({
    type: ['apiTokens'],
    description: "Your API tokens, newest first; an admin may ask for everyone's.",
    args: { all: t.arg.boolean({ required: false, description: "Everyone's tokens (admin only)." }) },
    resolve: (query, _root, args, ctx) => {
      const me = actingUser(ctx.principal);
      if (args.all && me.role !== 'ADMIN') throw new NotAuthorizedError("Only an admin may list everyone's tokens");
      return ctx.db.query.apiTokens.findMany(query({ where: args.all ? {} : { userId: me.id }, orderBy: { createdAt: 'desc' } }));
    },
  }),
}));

const SignInSuccess = builder.objectRef<{ user: UserRow }>('SignInSuccess').implement({
  description: 'Signed in; the session travels in an HttpOnly cookie.',
  fields: (t) => ({ user: t.field({ type: User, description: 'Who signed in.', resolve: (r) => r.user }) }),
});

const SignOutSuccess = builder.objectRef<{ signedOut: true }>('SignOutSuccess').implement({
  description: 'The session has ended.',
  fields: (t) => ({ signedOut: t.exposeBoolean('signedOut', { description: 'Always true.' }) }),
});

const CreateApiTokenSuccess = builder.objectRef<{ apiToken: ApiTokenRow; token: string }>('CreateApiTokenSuccess').implement({
  description: 'A new API token. Its secret is shown only here.',
  fields: (t) => ({
    apiToken: t.field({ type: ApiToken, description: 'The token’s record.', resolve: (r) => r.apiToken }),
    token: t.exposeString('token', { description: 'Send it as "Authorization: Bearer <token>".' }),
  }),
});

builder.mutationFields((t) => ({
  signIn: t.fieldWithInput({
    type: SignInSuccess,
    description: 'Sign in to the console with a username and password. Rate-limited.',
    skipTypeScopes: true,
    input: {
      username: t.input.string({ required: true, description: 'Sign-in name.' }),
      password: t.input.string({ required: true, description: 'Password.' }),
    },
    errors: { types: [TooManyAttemptsError] },
    resolve: async (_root, { input }, ctx) => {
      const username = input.username.slice(0, USERNAME_MAX);
      // Counted before the password is checked: a burst past the budget is refused unverified.
      await ctx.loginLimiter.attempt(username, ctx.clientAddress);
      const { user, token, session } = await signIn(ctx.db, username, input.password);
      await ctx.loginLimiter.succeeded(username);
      ctx.setSessionCookie(token, session.expiresAt);
      return { user };
    },
  }),
  signOut: t.withAuth({ signedIn: true }).field({
    type: SignOutSuccess,
    description: 'End this console session.',
    skipTypeScopes: true,
    errors: {},
    resolve: async (_root, _args, ctx) => {
      await signOut(ctx.db, ctx.principal.credential.id);
      ctx.setSessionCookie(null);
      return { signedOut: true as const };
    },
  }),
  createApiToken: t.withAuth({ signedIn: true }).fieldWithInput({
    type: CreateApiTokenSuccess,
    description:
      'Create an API token for yourself, with a role no higher than your own. Only a console session may: a token cannot mint tokens, so none outlives or outranks what a person gave.',
    skipTypeScopes: true,
    input: {
      name: t.input.string({ required: true, description: 'What it is for, e.g. "ci-provisioner".' }),
      role: t.input.field({ type: RoleEnum, required: true, description: 'The most it may do.' }),
      expiresAt: t.input.field({ type: 'DateTime', required: false, description: 'When it stops working; omit for never.' }),
    },
    errors: { types: [ValidationError] },
    resolve: (_root, { input }, ctx) => createApiToken(ctx.db, actingUser(ctx.principal), { name: input.name, role: input.role, expiresAt: input.expiresAt ?? null }),
  }),
  revokeApiToken: t.withAuth({ viewer: true }).fieldWithInput({
    type: ApiToken,
    description: 'Revoke an API token (your own, or anyone’s as admin). Its live subscriptions end at once.',
    skipTypeScopes: true,
    input: { tokenId: t.input.id({ required: true, description: 'Global ID of the token.' }) },
    errors: { types: [NotFoundError] },
    resolve: async (_root, { input }, ctx) => {
      const revoked = await revokeApiToken(ctx.db, actingUser(ctx.principal), idOf('ApiToken', String(input.tokenId)));
      // This process refuses it from the next request on; others hear it from the change bus.
      ctx.principals.forget({ kind: 'token', id: revoked.id });
      return revoked;
    },
  }),
  createUser: t.withAuth({ admin: true }).fieldWithInput({
    type: User,
    description: 'Create a user. Admin.',
    input: {
      username: t.input.string({ required: true, description: `${USERNAME_RULE}.` }),
      password: t.input.string({ required: true, description: 'At least 12 characters.' }),
      role: t.input.field({ type: RoleEnum, required: true, description: 'What the user may do.' }),
    },
    errors: { types: [ValidationError] },
    resolve: (_root, { input }, ctx) => createUser(ctx.db, input),
  }),
  updateUser: t.withAuth({ admin: true }).fieldWithInput({
    type: User,
    description:
      "Change a user's role or password. Admin. A new password or a lower role ends the user's sessions; a new password also revokes the user's API tokens (unless keepTokens), a lower role the tokens above it.",
    input: {
      userId: t.input.id({ required: true, description: 'Global ID of the user.' }),
      role: t.input.field({ type: RoleEnum, required: false, description: 'New role.' }),
      password: t.input.string({ required: false, description: 'New password.' }),
      keepTokens: t.input.boolean({ required: false, description: "Keep the user's API tokens working across a new password (default false)." }),
    },
    errors: { types: [ValidationError, NotFoundError] },
    resolve: async (_root, { input }, ctx) => {
      const user = await updateUser(ctx.db, idOf('User', String(input.userId)), { role: input.role, password: input.password, keepTokens: input.keepTokens ?? false });
      // Cached principals carry the old role; other processes drop theirs as the bus announces the revocations.
      ctx.principals.forgetUser(user.id);
      return user;
    },
  }),
}));
