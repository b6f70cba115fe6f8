import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Seed } from '../support/seed.ts';
import { startTestServer, type TestServer } from '../support/server.ts';

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
    const { hostId, agent } = await seed.host(await seed.cluster(), 'sse-host', [
      { kind: 'USB', address: '1-1', vendorId: '046d', productId: 'c52b' },
    ]);
    const [usb] = await seed.devices(hostId);
    await server.client.data(`mutation($id: ID!) { detachDevice(input: { deviceId: $id }) { __typename } }`, { id: usb!.id });

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

  it('serves GraphiQL to browsers', async () => {
    const response = await fetch(`${server.url}/graphql`, { headers: { accept: 'text/html' } });
    expect(await response.text()).toMatch(/GraphiQL/i);
  });
});
