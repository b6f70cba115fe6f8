import { eq } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { revokeApiToken } from '../../server/domain/auth.ts';
import { rotateHostToken } from '../../server/domain/hosts.ts';
import { users } from '../../server/db/schema/index.ts';
import { idOf } from '../../server/graphql/ids.ts';
import { graphql } from '../../protocol/graphql.ts';
import { eventually, member, TestClient } from '../support/client.ts';
import { Seed } from '../support/seed.ts';
import { ADMIN, sessionClient, startTestServer, type TestServer } from '../support/server.ts';

const HOUR = 60 * 60 * 1000;
// Needs the viewer role, so a refused credential shows as an error.
const READ = graphql(`{ servicePlans { name } }`);
const TYPENAME = graphql(`{ __typename }`);
const CREATE_TOKEN = graphql(`mutation($input: CreateApiTokenInput!) { createApiToken(input: $input) { __typename ... on CreateApiTokenSuccess { token apiToken { id } } } }`);
const ROTATE_HOST_TOKEN = graphql(`mutation($id: ID!) { rotateHostToken(input: { hostId: $id }) { __typename } }`);
const REVOKE_TOKEN = graphql(`mutation($id: ID!) { revokeApiToken(input: { tokenId: $id }) { __typename } }`);

describe('a cached principal costs no SQL, and revocation still takes effect at once', () => {
  let server: TestServer;
  let sql: string[] | null = null;

  beforeAll(async () => {
    server = await startTestServer({
      config: { sweepIntervalMs: HOUR, changePollMs: HOUR, heartbeatFlushIntervalMs: HOUR },
      onQuery: (statement) => sql?.push(statement),
    });
  });
  afterAll(() => server.stop());

  async function newToken(name: string) {
    const session = await sessionClient(server.url, ADMIN);
    const created = await session.data(CREATE_TOKEN, { input: { name, role: 'VIEWER' } });
    const createApiToken = member(created.createApiToken, 'CreateApiTokenSuccess');
    return { client: new TestClient(server.url, createApiToken.token), id: createApiToken.apiToken.id };
  }

  async function statementsOf(work: () => Promise<unknown>) {
    sql = [];
    await work();
    const statements = sql;
    sql = null;
    return statements;
  }

  it('a token presented again while cached is neither read nor written', async () => {
    const { client } = await newToken('cached');
    await client.data(TYPENAME);
    expect(await statementsOf(() => client.data(TYPENAME))).toEqual([]);
  });

  /** A host's agent, enrolled and reported, calling over HTTP with its host token. */
  async function agentOf(name: string) {
    const seed = new Seed(server.client, server.url);
    const { id: hostId, agent } = await seed.cluster().host({ name, usb: 1 });
    await agent.disconnect();
    return { hostId, client: agent.client };
  }
  const HEARTBEAT = graphql(`mutation { heartbeat { __typename ... on Error { message } } }`);

  it("an agent's host token presented again while cached is not read", async () => {
    const { client } = await agentOf('cached-agent');
    await client.data(HEARTBEAT);
    const statements = await statementsOf(() => client.data(HEARTBEAT));
    expect(statements.filter((statement) => /from "hosts"/.test(statement))).toEqual([]);
  });

  it('a rotated host token is refused on the very next request, though it was cached', async () => {
    const { hostId, client } = await agentOf('rotated-agent');
    await client.data(HEARTBEAT);
    await server.client.data(ROTATE_HOST_TOKEN, { id: hostId });
    const { heartbeat } = await client.data(HEARTBEAT);
    expect(heartbeat).toMatchObject({ __typename: 'NotAuthorizedError', message: expect.stringMatching(/invalid, expired or revoked/) });
  });

  it('a host token rotated by another replica is dropped when the change bus announces it', async () => {
    const { hostId, client } = await agentOf('rotated-elsewhere');
    await client.data(HEARTBEAT);
    await rotateHostToken({ db: server.app.database.db, actor: 'user:admin', operationTimeoutMs: HOUR, operationQueueTimeoutMs: HOUR }, idOf('Host', hostId));
    const refused = await eventually(async () => {
      const { heartbeat } = await client.data(HEARTBEAT);
      return heartbeat.__typename === 'NotAuthorizedError' ? heartbeat.message : null;
    });
    expect(refused).toMatch(/invalid, expired or revoked/);
  });

  it('a revoked token is refused on the very next request, though it was cached', async () => {
    const { client, id } = await newToken('revoked');
    await client.data(READ);
    await server.client.data(REVOKE_TOKEN, { id });
    const refused = await client.request(READ);
    expect(refused.errors?.[0]?.message).toMatch(/invalid, expired or revoked/);
  });

  it('a token revoked outside this request path (another replica) is dropped when the change bus announces it', async () => {
    const { client, id } = await newToken('revoked-elsewhere');
    await client.data(READ);
    const [admin] = await server.app.database.db.select().from(users).where(eq(users.username, 'admin'));
    // The domain call alone, as another server process would make it: only the bus tells this one.
    await revokeApiToken(server.app.database.db, { id: admin!.id, role: 'ADMIN' }, idOf('ApiToken', id));
    const refused = await eventually(async () => (await client.request(READ)).errors?.[0]?.message);
    expect(refused).toMatch(/invalid, expired or revoked/);
  });
});
