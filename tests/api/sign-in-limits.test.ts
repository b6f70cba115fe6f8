import type { IncomingMessage } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { graphql } from '../../protocol/graphql.ts';
import { clientAddressOf } from '../../server/client-address.ts';
import { loginAttempts } from '../../server/db/schema/index.ts';
import { passwordChecks } from '../../server/domain/auth.ts';
import { TooManyAttemptsError } from '../../server/domain/errors.ts';
import { ACCOUNT_ATTEMPTS, ADDRESS_ATTEMPTS, LoginLimiter } from '../../server/login-limiter.ts';
import { startTestServer, type TestServer } from '../support/server.ts';

// Password guessing is slowed per account and per address, counted before the password is
// checked, in the database every server process shares (issue 10, finding 4).

type Answer = { __typename: string; message?: string };

const CREATE_USER = graphql(`mutation($input: CreateUserInput!) { createUser(input: $input) { __typename } }`);

describe('sign-in limits', () => {
  let server: TestServer;
  beforeAll(async () => {
    // Behind a proxy on this machine: X-Forwarded-For names the client.
    server = await startTestServer({ config: { trustedProxies: ['loopback'] } });
    for (const username of ['alice', 'bob']) {
      await server.client.data(CREATE_USER, {
        input: { username, password: `${username} password 123`, role: 'VIEWER' },
      });
    }
  });
  afterAll(() => server.stop());

  async function signIn(username: string, password: string, from: string): Promise<Answer> {
    const response = await fetch(`${server.url}/graphql`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-forwarded-for': from },
      body: JSON.stringify({
        query: `mutation($input: SignInInput!) { signIn(input: $input) { __typename ... on Error { message } } }`,
        variables: { input: { username, password } },
      }),
    });
    return ((await response.json()) as { data: { signIn: Answer } }).data.signIn;
  }

  it('counts an attempt before checking its password: a burst past the budget is refused unchecked', async () => {
    const burst = await Promise.all(Array.from({ length: 3 * ACCOUNT_ATTEMPTS }, (_, i) => signIn('alice', 'not it', `198.51.100.${i + 1}`)));
    const checked = burst.filter((answer) => answer.__typename === 'NotAuthorizedError');
    expect(checked).toHaveLength(ACCOUNT_ATTEMPTS);
    expect(burst.filter((answer) => answer.__typename === 'TooManyAttemptsError')).toHaveLength(2 * ACCOUNT_ATTEMPTS);
    // Per account, from any address: the right password from a new one waits too.
    expect(await signIn('alice', 'alice password 123', '192.0.2.77')).toMatchObject({
      __typename: 'TooManyAttemptsError',
      message: expect.stringMatching(/try again in \d+ s/),
    });
    // Other accounts are not locked by it.
    expect((await signIn('bob', 'bob password 123', '192.0.2.77')).__typename).toBe('SignInSuccess');
  });

  it('limits one address across accounts, and not the addresses behind the same proxy', async () => {
    const guesses = await Promise.all(Array.from({ length: ADDRESS_ATTEMPTS }, (_, i) => signIn(`nobody-${i}`, 'guess', '203.0.113.9')));
    expect(guesses.every((answer) => answer.__typename === 'NotAuthorizedError')).toBe(true);
    expect((await signIn('bob', 'bob password 123', '203.0.113.9')).__typename).toBe('TooManyAttemptsError');
    expect((await signIn('bob', 'bob password 123', '203.0.113.10')).__typename).toBe('SignInSuccess');
  });

  it('checks few passwords at once: argon2 never takes more than its share of the cores', async () => {
    let most = 0;
    let queued = 0;
    const sampler = setInterval(() => {
      most = Math.max(most, passwordChecks.activeCount);
      queued = Math.max(queued, passwordChecks.pendingCount);
    }, 1);
    await Promise.all(Array.from({ length: 24 }, (_, i) => signIn(`stranger-${i}`, 'guess', `233.252.0.${i + 1}`)));
    clearInterval(sampler);
    expect(most).toBeLessThanOrEqual(passwordChecks.concurrency);
    expect(queued).toBeGreaterThan(0);
  });

  it('shares the counts between server processes: they live in the database', async () => {
    const first = new LoginLimiter(server.app.database.db);
    const second = new LoginLimiter(server.app.database.db);
    for (let i = 0; i < ACCOUNT_ATTEMPTS; i++) await first.attempt('shared-account', `100.64.0.${i}`);
    await expect(second.attempt('shared-account', '100.64.1.1')).rejects.toBeInstanceOf(TooManyAttemptsError);
  });

  it('drops counts whose window has passed, and only those', async () => {
    const limiter = new LoginLimiter(server.app.database.db);
    await limiter.attempt('pruned-account', '100.64.2.1');
    const keys = async () => (await server.app.database.db.select({ key: loginAttempts.key }).from(loginAttempts)).map((row) => row.key);
    await limiter.prune();
    expect(await keys()).toEqual(expect.arrayContaining(['account:pruned-account', 'address:100.64.2.1']));
    // An hour on, both windows (15 minutes and one) have passed.
    await limiter.prune(new Date(Date.now() + 60 * 60 * 1000));
    expect(await keys()).not.toContain('account:pruned-account');
    expect(await keys()).not.toContain('address:100.64.2.1');
  });

  it('reads X-Forwarded-For only from a trusted proxy', () => {
    const request = (peer: string) => ({ socket: { remoteAddress: peer }, headers: { 'x-forwarded-for': '192.0.2.1' } }) as unknown as IncomingMessage;
    expect(clientAddressOf([])(request('127.0.0.1'))).toBe('127.0.0.1');
    expect(clientAddressOf(['loopback'])(request('127.0.0.1'))).toBe('192.0.2.1');
    expect(clientAddressOf(['loopback'])(request('198.51.100.4'))).toBe('198.51.100.4');
  });
});
