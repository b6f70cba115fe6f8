import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { print } from 'graphql';
import { graphql } from '../../protocol/graphql.ts';
import { eventually, member, TestClient, type Document } from '../support/client.ts';
import { admin, adminSession, clients, REVOKE_TOKEN, seed, startFleet, stopFleet, unique, url, WATCH_HOSTS } from './support/callers.ts';

const WATCHER_TOKEN = graphql(`mutation { createApiToken(input: { name: "watcher", role: VIEWER }) { __typename ... on CreateApiTokenSuccess { token apiToken { id } } } }`);
const ROTATE_HOST_TOKEN = graphql(`mutation($id: ID!) { rotateHostToken(input: { hostId: $id }) { __typename } }`);
const WATCH_DEVICES = graphql(`subscription { deviceChanged { device { id } } }`);

beforeAll(startFleet);
afterAll(stopFleet);

describe('subscriptions', () => {
  const SUBSCRIPTIONS: Document<unknown, {}>[] = [
    graphql(`subscription { deviceChanged { device { id } } }`),
    graphql(`subscription { hostChanged { host { id } } }`),
    graphql(`subscription { vmChanged { vm { id } } }`),
    graphql(`subscription { operationChanged { operation { id } } }`),
    graphql(`subscription { auditLogged { entry { id } } }`),
    graphql(`subscription { agentOperations { id } }`),
  ];

  it('a socket without credentials is closed 4401; a revoked or expired token 4403', async () => {
    for (const [who, code] of [['anonymous', 4401], ['revoked', 4403], ['expired', 4403]] as const) {
      const client = new TestClient(url, clients[who].token);
      const stream = client.subscribe(WATCH_HOSTS);
      await expect(stream.next(() => false, 5000)).rejects.toThrow(/ended/);
      expect(client.closes[0]?.code, who).toBe(code);
      await client.close();
    }
  });

  it('people subscribe to changes; agents only to their own operations', async () => {
    for (const who of ['viewer', 'operator', 'admin', 'agentA'] as const) {
      for (const document of SUBSCRIPTIONS) {
        const field = print(document);
        const mayCall = field.includes('agentOperations') ? who === 'agentA' : who !== 'agentA';
        const client = new TestClient(url, clients[who].token);
        const stream = client.subscribe(document);
        if (mayCall) {
          await new Promise((resolve) => setTimeout(resolve, 150));
          expect(stream.events.filter((e) => e.errors), `${who} ${field}`).toEqual([]);
        } else {
          const refused = await stream.next((e) => Boolean(e.errors));
          expect(refused.errors![0]!.message, `${who} ${field}`).toMatch(/host agents|Host agents/);
        }
        await client.close();
      }
    }
  });

  it('revoking a token ends its live subscriptions at once', async () => {
    const createApiToken = member((await adminSession.data(WATCHER_TOKEN)).createApiToken, 'CreateApiTokenSuccess');
    const watcher = new TestClient(url, createApiToken.token);
    const stream = watcher.subscribe(WATCH_DEVICES);
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect(stream.ended).toBe(false);
    await admin.data(REVOKE_TOKEN, { id: createApiToken.apiToken.id });
    await eventually(async () => stream.ended, 5000);
    expect(watcher.closes[0]).toMatchObject({ code: 4403, reason: 'Credential revoked' });
    await watcher.close();
  });

  it('rotating a host token disconnects the agent that used the old one', async () => {
    const cluster = await seed.cluster(unique('rot'));
    const host = await cluster.host({ name: unique('rot-host'), usb: 1 });
    await new Promise((resolve) => setTimeout(resolve, 300));
    await admin.data(ROTATE_HOST_TOKEN, { id: host.id });
    await eventually(async () => host.agent.client.closes.length > 0, 5000);
    expect(host.agent.client.closes[0]!.code).toBe(4403);
  });
});
