import { Writable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { graphql } from '../../protocol/graphql.ts';
import { auditLog } from '../../server/db/schema/index.ts';
import { createLogger } from '../../server/logger.ts';
import { eventually, TestClient } from '../support/client.ts';
import { ADMIN, signedInClient, startTestServer, type TestServer } from '../support/server.ts';

// One credential, or one machine, cannot hold the server's sockets and subscriptions, and
// refused calls without credentials cost no audit rows (issue 10, finding 6).

const WATCH = graphql(`subscription { hostChanged { host { id } } }`);
const CREATE_CLUSTER = graphql(`mutation($name: String!) { createCluster(input: { name: $name }) { __typename } }`);

describe('volume', () => {
  let server: TestServer;
  const lines: { level: number; msg: string; refused?: number }[] = [];
  beforeAll(async () => {
    const sink = new Writable({
      write(chunk, _encoding, done) {
        for (const line of String(chunk).split('\n')) if (line) lines.push(JSON.parse(line));
        done();
      },
    });
    server = await startTestServer({
      config: { maxSocketsPerCredential: 3, maxSubscriptionsPerCredential: 4, maxSocketsPerAddress: 8 },
      logger: createLogger('info', sink),
    });
  });
  afterAll(() => server.stop());

  /** `count` clients of one credential, each with a live subscription on its own socket. */
  async function sockets(token: string, count: number, url = server.url) {
    const clients = Array.from({ length: count }, () => new TestClient(url, token));
    const streams = clients.map((client) => client.subscribe(WATCH));
    return { clients, streams, close: () => Promise.all(clients.map((client) => client.close())) };
  }

  it('a credential holds at most its share of sockets; the next is closed with 4429', async () => {
    const { token } = await signedInClient(server.url, ADMIN, 'VIEWER');
    const held = await sockets(token!, 3);
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect(held.streams.every((stream) => !stream.ended)).toBe(true);
    const extra = new TestClient(server.url, token);
    extra.subscribe(WATCH);
    await eventually(async () => extra.closes.length > 0);
    expect(extra.closes[0]).toEqual({ code: 4429, reason: 'At most 3 connections per credential' });
    await held.close();
    await extra.close();
  });

  it("a credential's subscriptions are counted across its sockets", async () => {
    const { token } = await signedInClient(server.url, ADMIN, 'VIEWER');
    const first = new TestClient(server.url, token);
    const second = new TestClient(server.url, token);
    const streams = [first.subscribe(WATCH), first.subscribe(WATCH), second.subscribe(WATCH), second.subscribe(WATCH)];
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect(streams.every((stream) => !stream.ended)).toBe(true);
    const fifth = second.subscribe(WATCH);
    const refused = await fifth.next((event) => !!event.errors);
    expect(refused.errors?.[0]?.message).toMatch(/At most 4 subscriptions per credential, across its connections/);
    await first.close();
    await second.close();
  });

  it('an address holds at most its share of sockets, whatever the credentials', async () => {
    // A server of its own, so no socket of another test is still being closed: three credentials
    // of three sockets each, from one address that may hold eight.
    const own = await startTestServer({ config: { maxSocketsPerCredential: 3, maxSocketsPerAddress: 8 } });
    const held = [];
    for (let i = 0; i < 3; i++) held.push(await sockets((await signedInClient(own.url, ADMIN, 'VIEWER')).token!, 3, own.url));
    const clients = held.flatMap((group) => group.clients);
    await eventually(async () => clients.filter((client) => client.closes.length > 0).length === 1);
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect(clients.flatMap((client) => client.closes)).toEqual([{ code: 4429, reason: 'At most 8 connections from one address' }]);
    await Promise.all(held.map((group) => group.close()));
    await own.stop();
  });

  it('refused calls without credentials are counted in the log, not written to the audit trail one row each', async () => {
    const countRows = () => server.app.database.db.$count(auditLog);
    const rows = await countRows();
    const anonymous = new TestClient(server.url, null);
    for (let i = 0; i < 50; i++) await anonymous.request(CREATE_CLUSTER, { name: `nope-${i}` });
    expect(await countRows()).toBe(rows);
    expect(lines.find((line) => line.msg.startsWith('calls without credentials refused'))).toMatchObject({ level: 40, refused: expect.any(Number) });
  });
});
