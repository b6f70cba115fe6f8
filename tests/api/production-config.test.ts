import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { graphql } from '../../protocol/graphql.ts';
import { ADMIN, startTestServer, type TestServer } from '../support/server.ts';

// The switches README tells production to use: no GraphiQL, no introspection, Secure cookies,
// and a small subscription budget per connection.
const WATCH_HOSTS = graphql(`subscription { hostChanged { host { id } } }`);

describe('production configuration', () => {
  let server: TestServer;
  beforeAll(async () => {
    server = await startTestServer({ config: { graphiql: false, introspection: false, secureCookies: true, maxSubscriptionsPerSocket: 3 } });
  });
  afterAll(() => server.stop());

  it('answers no introspection and serves no GraphiQL', async () => {
    const { errors } = await server.client.request(`{ __schema { types { name } } }`);
    expect(errors?.[0]?.message).toMatch(/introspection/i);
    const page = await fetch(`${server.url}/graphql`, { headers: { accept: 'text/html' } });
    expect(await page.text()).not.toMatch(/graphiql/i);
  });

  it('marks the session cookie Secure', async () => {
    const response = await fetch(`${server.url}/graphql`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ query: 'mutation($input: SignInInput!) { signIn(input: $input) { __typename } }', variables: { input: ADMIN } }),
    });
    expect(response.headers.get('set-cookie')).toMatch(/; Secure/);
  });

  it('caps the subscriptions one connection may hold', async () => {
    const streams = Array.from({ length: 4 }, () => server.client.subscribe(WATCH_HOSTS));
    const refused = await streams[3]!.next((e) => Boolean(e.errors));
    expect(refused.errors![0]!.message).toMatch(/At most 3 subscriptions per connection/);
    for (const stream of streams.slice(0, 3)) expect(stream.events).toEqual([]);
    for (const stream of streams) stream.close();
  });
});
