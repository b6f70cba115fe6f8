import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { graphql } from '../../protocol/graphql.ts';
import { eventually, member, TestClient } from '../support/client.ts';
import { Seed } from '../support/seed.ts';
import { ADMIN, sessionClient, startTestServer, type TestServer } from '../support/server.ts';

const DETACH = graphql(`mutation($id: ID!) { detachDevice(input: { deviceId: $id }) { __typename } }`);
const CREATE_TOKEN = graphql(`mutation { createApiToken(input: { name: "sse-revoked", role: VIEWER }) { __typename ... on CreateApiTokenSuccess { token apiToken { id } } } }`);
const REVOKE_TOKEN = graphql(`mutation($id: ID!) { revokeApiToken(input: { tokenId: $id }) { __typename } }`);
const SIGN_OUT = graphql(`mutation { signOut { __typename } }`);
const ROTATE_HOST_TOKEN = graphql(`mutation($id: ID!) { rotateHostToken(input: { hostId: $id }) { __typename } }`);

/** A subscription over server-sent events: everything it sent, and whether the server ended it. */
function sseSubscription(url: string, query: string, headers: Record<string, string>) {
  const abort = new AbortController();
  let text = '';
  const opened = fetch(`${url}/graphql`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', accept: 'text/event-stream', ...headers },
    body: JSON.stringify({ query }),
    signal: abort.signal,
  });
  const ended = opened.then(async (response) => {
    const reader = response.body!.getReader();
    for (;;) {
      const chunk = await reader.read();
      if (chunk.done) return text;
      text += new TextDecoder().decode(chunk.value);
    }
  });
  return { opened, ended, text: () => text, close: () => abort.abort() };
}

/** Resolves with `promise`, or 'still open' after `ms`. */
const within = <T>(promise: Promise<T>, ms: number) => Promise.race([promise, new Promise<'still open'>((resolve) => setTimeout(() => resolve('still open'), ms))]);

describe('transports', () => {
  let server: TestServer;
  beforeAll(async () => {
    server = await startTestServer();
  });
  afterAll(() => server.stop());

  it('serves subscriptions over server-sent events too', async () => {
    const abort = new AbortController();
    const response = await fetch(`${server.url}/graphql`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', accept: 'text/event-stream', authorization: `Bearer ${server.client.token}` },
      body: JSON.stringify({ query: 'subscription { operationChanged { operation { type status } } }' }),
      signal: abort.signal,
    });
    expect(response.headers.get('content-type')).toMatch(/text\/event-stream/);
    const reader = response.body!.getReader();
    await new Promise((resolve) => setTimeout(resolve, 200));

    const seed = new Seed(server.client, server.url);
    const { id: hostId, agent } = await seed.cluster().host({
      name: 'sse-host',
      devices: [{ kind: 'USB', address: '1-1', vendorId: '046d', productId: 'c52b' }],
    });
    const [usb] = await seed.devices(hostId);
    await server.client.data(DETACH, { id: usb!.id });

    let text = '';
    while (!text.includes('"type":"DETACH"')) {
      const chunk = await reader.read();
      if (chunk.done) break;
      text += new TextDecoder().decode(chunk.value);
    }
    expect(text).toMatch(/data: \{"data":\{"operationChanged":\{"operation":\{"type":"DETACH","status":"[A-Z]+"\}\}\}\}/);
    abort.abort();
    await agent.disconnect();
  });

  describe('a subscription over server-sent events ends with its credential', () => {
    const WATCH = 'subscription { operationChanged { operation { id } } }';
    const ENDED = /was revoked; subscribe again[\s\S]*"code":"NotAuthorizedError"/;

    it('when its API token is revoked', async () => {
      const createApiToken = member((await (await sessionClient(server.url, ADMIN)).data(CREATE_TOKEN)).createApiToken, 'CreateApiTokenSuccess');
      const stream = sseSubscription(server.url, WATCH, { authorization: `Bearer ${createApiToken.token}` });
      await stream.opened;
      expect(await within(stream.ended, 300)).toBe('still open');
      await server.client.data(REVOKE_TOKEN, { id: createApiToken.apiToken.id });
      expect(await within(stream.ended, 10_000)).toMatch(ENDED);
    });

    it('when its session signs out', async () => {
      const signIn = await fetch(`${server.url}/graphql`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ query: 'mutation($input: SignInInput!) { signIn(input: $input) { __typename } }', variables: { input: ADMIN } }),
      });
      const cookie = signIn.headers.get('set-cookie')!.split(';')[0]!;
      const stream = sseSubscription(server.url, WATCH, { cookie });
      await stream.opened;
      await new TestClient(server.url, null, cookie).data(SIGN_OUT);
      expect(await within(stream.ended, 10_000)).toMatch(ENDED);
    });

    it("when its host's token is rotated", async () => {
      const seed = new Seed(server.client, server.url);
      const { id: hostId, token, agent } = await seed.cluster('sse-rotated').host({
        name: 'sse-rotated-host',
        devices: [{ kind: 'USB', address: '1-1', vendorId: '046d', productId: 'c52b' }],
      });
      const stream = sseSubscription(server.url, 'subscription { agentOperations { id } }', { authorization: `Bearer ${token}` });
      await stream.opened;
      await server.client.data(ROTATE_HOST_TOKEN, { id: hostId });
      expect(await within(stream.ended, 10_000)).toMatch(ENDED);
      // The rotation closed the seeded agent's own socket (4403) too.
      await agent.disconnect().catch(() => {});
    });
  });

  it('caps the server-sent event streams of one credential; an ended one frees its place', async () => {
    const capped = await startTestServer({ config: { maxSubscriptionsPerCredential: 2 } });
    try {
      const headers = { authorization: `Bearer ${capped.client.token}` };
      const WATCH = 'subscription { hostChanged { host { id } } }';
      const open = [sseSubscription(capped.url, WATCH, headers), sseSubscription(capped.url, WATCH, headers)];
      await Promise.all(open.map((stream) => stream.opened));
      await new Promise((resolve) => setTimeout(resolve, 200));
      const third = sseSubscription(capped.url, WATCH, headers);
      expect(await within(third.ended, 10_000)).toMatch(/At most 2 subscriptions per credential over server-sent events/);
      open[0]!.close();
      await open[0]!.ended.catch(() => {});
      // The place comes back once the server has seen the stream go.
      await eventually(async () => {
        const again = sseSubscription(capped.url, WATCH, headers);
        await again.opened;
        const answer = await within(again.ended, 300);
        again.close();
        await again.ended.catch(() => {});
        return answer === 'still open';
      });
      open[1]!.close();
      await open[1]!.ended.catch(() => {});
    } finally {
      await capped.stop();
    }
  });

  it('serves GraphiQL to browsers', async () => {
    const response = await fetch(`${server.url}/graphql`, { headers: { accept: 'text/html' } });
    expect(await response.text()).toMatch(/GraphiQL/i);
  });
});
