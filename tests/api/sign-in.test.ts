import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { print } from 'graphql';
import { sql } from 'drizzle-orm';
import { graphql, type ResultOf } from '../../protocol/graphql.ts';
import { eventually, TestClient, type GraphQLResponse } from '../support/client.ts';
import { queryRows } from '../support/snapshot.ts';
import { deleteExpiredSessions } from '../../server/domain/auth.ts';
import { app, ME, startFleet, stopFleet, url, WATCH_HOSTS } from './support/callers.ts';

const SIGN_IN = graphql(`mutation($input: SignInInput!) { signIn(input: $input) { __typename ... on Error { message } ... on SignInSuccess { user { username } } } }`);
const SIGN_OUT = graphql(`mutation { signOut { __typename } }`);

beforeAll(startFleet);
afterAll(stopFleet);

describe('sign-in', () => {
  async function signIn(username: string, password: string) {
    const response = await fetch(`${url}/graphql`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-forwarded-for': 'ignored' },
      body: JSON.stringify({ query: print(SIGN_IN), variables: { input: { username, password } } }),
    });
    return { cookie: response.headers.get('set-cookie'), result: ((await response.json()) as GraphQLResponse<ResultOf<typeof SIGN_IN>>).data!.signIn };
  }

  it('sets an HttpOnly, SameSite session cookie that works over HTTP and graphql-ws, until sign-out', async () => {
    const { cookie, result } = await signIn('viewer', 'viewer password 123');
    expect(result).toEqual({ __typename: 'SignInSuccess', user: { username: 'viewer' } });
    expect(cookie).toMatch(/^passthru_session=pth_session_[\w-]+; Path=\/; Expires=.*; HttpOnly; SameSite=Strict$/);
    const session = new TestClient(url, null, cookie!.split(';')[0]!);
    expect((await session.data(ME)).me!.username).toBe('viewer');
    const stream = session.subscribe(WATCH_HOSTS);
    await new Promise((resolve) => setTimeout(resolve, 200));
    expect(stream.ended).toBe(false);

    expect((await session.data(SIGN_OUT)).signOut.__typename).toBe('SignOutSuccess');
    await eventually(async () => stream.ended, 5000);
    expect((await session.data(ME)).me).toBeNull();
    await session.close();
  });

  it('an expired session no longer signs anyone in, and the sweep drops it', async () => {
    const { cookie } = await signIn('viewer', 'viewer password 123');
    const session = new TestClient(url, null, cookie!.split(';')[0]!);
    expect((await session.data(ME)).me).toEqual({ username: 'viewer' });
    // The viewer's sessions only: the admin's mints the fixtures' tokens.
    await app.database.db.execute(sql`update sessions set expires_at = now() - interval '1 second' where user_id = (select id from users where username = 'viewer')`);
    expect((await session.request(ME)).data?.me).toBeNull();
    expect(await deleteExpiredSessions(app.database.db)).toBeGreaterThan(0);
    expect(await queryRows(app.database.db, sql`select id from sessions where expires_at < now()`)).toEqual([]);
  });

  it('says the same for an unknown user and a wrong password (sign-in-limits.test.ts slows guessing down)', async () => {
    const unknown = await signIn('nobody', 'whatever password');
    const wrong = await signIn('operator', 'not the password');
    expect(unknown.result).toEqual({ __typename: 'NotAuthorizedError', message: 'Wrong username or password' });
    expect(wrong.result).toEqual(unknown.result);
    expect(unknown.cookie).toBeNull();
  });
});
