import { buildApp, type App } from '../../server/app.ts';
import { loadConfig, type Config } from '../../server/config.ts';
import { createLogger } from '../../server/logger.ts';
import { TestClient } from './client.ts';
import { createTestDatabase, type TestDatabase } from './database.ts';

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
}

/** The real app on a free port over a fresh database. */
export async function startTestServer(options: TestServerOptions = {}): Promise<TestServer> {
  const database = options.database ?? (await createTestDatabase());
  const config: Config = {
    ...loadConfig({}),
    databaseUrl: database.databaseUrl,
    dataDir: database.dataDir,
    ...options.config,
  };
  const app = await buildApp(config, { onQuery: options.onQuery, logger: createLogger('silent') });
  const port = await app.start(0);
  const url = `http://127.0.0.1:${port}`;
  const client = new TestClient(url);
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
