import { buildApp, type App } from '../../server/app.ts';
import { loadConfig, type Config } from '../../server/config.ts';
import { createLogger, type Logger } from '../../server/logger.ts';
import { TestClient } from './client.ts';
import { createTestDatabase, type TestDatabase } from './database.ts';
import { CreateApiToken } from '../../protocol/commands.ts';

export const ADMIN = { username: 'admin', password: 'correct horse battery staple' };

/** A client with a console session of `user`: a session cookie, as the browser has. */
export async function sessionClient(url: string, user: { username: string; password: string }) {
  const signIn = await fetch(`${url}/graphql`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({
      query: 'mutation($input: SignInInput!) { signIn(input: $input) { __typename ... on Error { message } } }',
      variables: { input: user },
    }),
  });
  const cookie = signIn.headers.get('set-cookie')?.split(';')[0];
  if (!cookie) throw new Error(`sign-in as ${user.username} failed: ${await signIn.text()}`);
  return new TestClient(url, null, cookie);
}

/** A client with an API token of `role`, minted in a session of `user` (who must have that role or higher). */
export async function signedInClient(url: string, user: { username: string; password: string }, role: 'VIEWER' | 'OPERATOR' | 'ADMIN') {
  const session = await sessionClient(url, user);
  const { createApiToken } = await session.data(CreateApiToken, { name: `test-${role.toLowerCase()}-${Math.random().toString(36).slice(2, 8)}`, role });
  if (createApiToken.__typename !== 'CreateApiTokenSuccess') throw new Error(createApiToken.message);
  return new TestClient(url, createApiToken.token);
}

export interface TestServer {
  app: App;
  url: string;
  client: TestClient;
  config: Config;
  database: TestDatabase;
  stop(): Promise<void>;
}

export interface TestServerOptions {
  config?: Partial<Config>;
  onQuery?: (sql: string) => void;
  /** Share a database with another server process (two replicas on one PostgreSQL). */
  database?: TestDatabase;
  /** Where the server logs; silent unless a test reads its logs. */
  logger?: Logger;
}

/** The real app on a free port over a fresh database. */
export async function startTestServer(options: TestServerOptions = {}): Promise<TestServer> {
  const database = options.database ?? (await createTestDatabase());
  const config: Config = {
    ...loadConfig({}),
    adminUsername: ADMIN.username,
    adminPassword: ADMIN.password,
    // Test agents do not heartbeat on a timer and come and go between steps; tests that need
    // OFFLINE hosts ask for a short timeout or disconnect grace.
    heartbeatTimeoutMs: 10 * 60 * 1000,
    agentDisconnectGraceMs: 10 * 60 * 1000,
    databaseUrl: database.databaseUrl,
    dataDir: database.dataDir,
    ...options.config,
  };
  const app = await buildApp(config, { onQuery: options.onQuery, logger: options.logger ?? createLogger('silent') });
  const port = await app.start(0);
  const url = `http://127.0.0.1:${port}`;
  const client = await signedInClient(url, ADMIN, 'ADMIN');
  return {
    app,
    url,
    client,
    config,
    database,
    async stop() {
      await client.close();
      await app.stop();
      if (!options.database) await database.drop();
    },
  };
}
