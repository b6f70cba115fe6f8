// A console with a seeded two-host lab, for looking at the UI by hand:
//   npx tsx tests/web/support/demo-server.ts [port]
// Builds web/dist if stale, serves it on an embedded database in a temp directory.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { buildApp } from '../../../server/app.ts';
import { loadConfig } from '../../../server/config.ts';
import { createLogger } from '../../../server/logger.ts';
import { ensureWebBuild } from '../../../web/scripts/ensure-build.ts';
import { TestClient } from '../../support/client.ts';
import { seedFleet } from './fleet.ts';

ensureWebBuild({ quiet: true });
const dataDir = mkdtempSync(join(tmpdir(), 'passthru-demo-'));
const admin = { username: 'admin', password: 'demo password 1234' };
const app = await buildApp(
  { ...loadConfig({}), dataDir, databaseUrl: undefined, adminUsername: admin.username, adminPassword: admin.password },
  { logger: createLogger('warn') },
);
const port = await app.start(Number(process.argv[2] ?? 4100));
const url = `http://127.0.0.1:${port}`;
const fleet = await seedFleet(await adminClient(url), url, { latencyMs: Number(process.env.LATENCY_MS ?? 800) });
console.log(`console on ${url}, sign in as ${admin.username} / ${admin.password} (hosts: ${fleet.hosts.map((h) => h.name).join(', ')})`);

/** An API token of the admin, made the way an operator would: sign in, then createApiToken. */
async function adminClient(base: string) {
  const response = await fetch(`${base}/graphql`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ query: 'mutation($input: SignInInput!) { signIn(input: $input) { __typename } }', variables: { input: admin } }),
  });
  const cookie = response.headers.get('set-cookie')?.split(';')[0] ?? null;
  const session = new TestClient(base, null, cookie);
  const { createApiToken } = await session.data(
    'mutation($input: CreateApiTokenInput!) { createApiToken(input: $input) { ... on CreateApiTokenSuccess { token } ... on Error { message } } }',
    { input: { name: 'demo-seed', role: 'ADMIN' } },
  );
  await session.close();
  return new TestClient(base, createApiToken.token);
}

for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.once(signal, async () => {
    await fleet.stop();
    await app.stop();
    rmSync(dataDir, { recursive: true, force: true });
    process.exit(0);
  });
}
