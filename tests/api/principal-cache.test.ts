import { eq } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { revokeApiToken } from '../../server/domain/auth.ts';
import { users } from '../../server/db/schema/index.ts';
import { idOf } from '../../server/graphql/ids.ts';
import { eventually, TestClient } from '../support/client.ts';
import { ADMIN, sessionClient, startTestServer, type TestServer } from '../support/server.ts';

const HOUR = 60 * 60 * 1000;
// Needs the viewer role, so a refused credential shows as an error.
const READ = '{ servicePlans { name } }';

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
    const { createApiToken } = await session.data(
      `mutation($input: CreateApiTokenInput!) { createApiToken(input: $input) { ... on CreateApiTokenSuccess { token apiToken { id } } } }`,
      { input: { name, role: 'VIEWER' } },
    );
    return { client: new TestClient(server.url, createApiToken.token), id: createApiToken.apiToken.id as string };
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
    await client.data('{ __typename }');
    expect(await statementsOf(() => client.data('{ __typename }'))).toEqual([]);
  });

  it('a revoked token is refused on the very next request, though it was cached', async () => {
    const { client, id } = await newToken('revoked');
    await client.data(READ);
    await server.client.data(`mutation($id: ID!) { revokeApiToken(input: { tokenId: $id }) { __typename } }`, { id });
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
