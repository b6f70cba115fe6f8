import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { graphql } from '../../protocol/graphql.ts';
import { TestClient } from '../support/client.ts';
import { Seed } from '../support/seed.ts';
import { startTestServer, type TestServer } from '../support/server.ts';
import { NO_TIMERS, StatementLog } from '../support/statements.ts';

// Every request and every graphql-ws connection authenticates first, through the same pool
// as the agents' calls: its cost must stay one indexed read.
let server: TestServer;
let seed: Seed;
const log = new StatementLog();

beforeAll(async () => {
  server = await startTestServer({
    config: NO_TIMERS,
    onQuery: log.onQuery,
  });
  seed = new Seed(server.client, server.url);
});
afterAll(() => server.stop());

const statementsOf = (work: () => Promise<unknown>) => log.during(work);
const ENROLL = graphql(`mutation($input: EnrollHostInput!) { enrollHost(input: $input) { __typename ... on EnrollHostSuccess { token } } }`);
const HEARTBEAT = graphql(`mutation { heartbeat { __typename } }`);
const CLUSTERS = graphql(`{ clusters { id } }`);

describe('authentication is one read', () => {
  it('an agent heartbeat costs one read (its token) and no write', async () => {
    const { token } = await seed.cluster().enroll('cheap-host');
    const agent = new TestClient(server.url, token);
    const seen = await statementsOf(() => agent.data(HEARTBEAT));
    // Other statements in the window belong to the change feed running beside the request.
    expect(seen.filter((sql) => /"token_hash" = \$1/.test(sql))).toHaveLength(1);
    expect(seen.filter((sql) => /^\s*(update|insert|delete)\b/i.test(sql))).toEqual([]);
    await agent.close();
  });

  it('an API token used again within the minute sends no UPDATE of its last use', async () => {
    await server.client.data(CLUSTERS);
    const seen = await statementsOf(() => server.client.data(CLUSTERS));
    expect(seen.filter((sql) => /^\s*update\b/i.test(sql))).toEqual([]);
  });
});
