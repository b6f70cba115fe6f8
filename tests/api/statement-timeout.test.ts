import { sql } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { graphql } from '../../protocol/graphql.ts';
import { startTestServer, type TestServer } from '../support/server.ts';

// The backstop behind the query limits: PostgreSQL cancels a statement of the server's that runs
// past PASSTHRU_STATEMENT_TIMEOUT. PGlite (WebAssembly, no timers) cannot.
const HOST_IDS = graphql(`{ hosts { nodes { id } } }`);

describe.skipIf(!process.env.DATABASE_URL)('statement timeout', () => {
  let server: TestServer;
  beforeAll(async () => {
    server = await startTestServer({ config: { statementTimeoutMs: 300 } });
  });
  afterAll(() => server.stop());

  it('PostgreSQL cancels a statement of any server pool that runs past it, and the server goes on answering', async () => {
    const { db, feedDb, authDb } = server.app.database;
    for (const pool of [db, feedDb, authDb]) {
      // drizzle wraps PostgreSQL's error as the cause of its own.
      await expect(pool.execute(sql`select pg_sleep(2)`)).rejects.toMatchObject({ cause: { message: 'canceling statement due to statement timeout' } });
    }
    const { hosts } = await server.client.data(HOST_IDS);
    expect(hosts.nodes).toEqual([]);
  });
});
