import { spawn, type ChildProcess } from 'node:child_process';
import { freePort } from '../../bench/support/processes.ts';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { eventually } from '../support/client.ts';
import { ADMIN, signedInClient } from '../support/server.ts';
import { PostgresInstance, postgresBin } from './support/postgres-instance.ts';

/** One read that needs the database; the answer's HTTP status and first error, or the transport's failure. */
async function readHosts(url: string, token: string | null, write = false): Promise<{ status: number; error: string | null; code?: string }> {
  try {
    const response = await fetch(`${url}/graphql`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...(token ? { authorization: `Bearer ${token}` } : {}) },
      body: JSON.stringify(write ? { query: 'mutation($name: String!) { createCluster(input: { name: $name }) { __typename } }', variables: { name: `c-${Math.random()}` } } : { query: '{ hosts { nodes { id } } }' }),
      signal: AbortSignal.timeout(10_000),
    });
    const body = await response.json();
    const [first] = body.errors ?? [];
    return { status: response.status, error: first?.message ?? null, code: first?.extensions?.code };
  } catch (error) {
    return { status: 0, error: String(error) };
  }
}

/** A probe's HTTP status and JSON body. */
async function probe(url: string, path: string): Promise<{ status: number; body: unknown }> {
  const response = await fetch(`${url}${path}`, { signal: AbortSignal.timeout(10_000) });
  return { status: response.status, body: await response.json() };
}

// A PostgreSQL server of its own, killed with -9 while requests are in flight: initdb needs
// PostgreSQL installed (CI installs it).
describe.skipIf(!postgresBin())('the database disappears under load', () => {
  let database: PostgresInstance;
  let server: ChildProcess;
  let url: string;
  let exited: number | null = null;
  let token: string | null;

  beforeAll(async () => {
    database = await PostgresInstance.create();
    const port = await freePort();
    server = spawn(process.execPath, ['--import', 'tsx', 'server/main.ts'], {
      env: { ...process.env, DATABASE_URL: database.url, PORT: String(port), LOG_LEVEL: process.env.FAULT_LOG ?? 'fatal', PASSTHRU_ADMIN_PASSWORD: ADMIN.password },
      stdio: process.env.FAULT_LOG ? 'inherit' : 'ignore',
    });
    server.once('exit', (code) => (exited = code ?? -1));
    url = `http://127.0.0.1:${port}`;
    await eventually(
      () => fetch(`${url}/graphql`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"query":"{ __typename }"}' }).then((r) => r.ok).catch(() => false),
      60_000,
      250,
    );
    ({ token } = await signedInClient(url, ADMIN, 'ADMIN'));
  });

  afterAll(async () => {
    if (exited === null) {
      server.kill('SIGTERM');
      await new Promise((resolve) => server.once('exit', resolve));
    }
    await database.destroy();
  });

  it('the server keeps running, fails requests clearly while the database is gone, and recovers without a restart', async () => {
    // Clients that keep the pool busy, so connections are mid-query when the database dies.
    let loading = true;
    const outcomes: { status: number; error: string | null }[] = [];
    const clients = Array.from({ length: 8 }, async (_, n) => {
      while (loading) outcomes.push(await readHosts(url, token, n % 2 === 1));
    });
    await new Promise((resolve) => setTimeout(resolve, 1000));

    await database.kill();
    await new Promise((resolve) => setTimeout(resolve, 2000));
    const whileGone = await readHosts(url, token);
    expect(exited).toBeNull();
    // Answered, not hung: an error that says the database is out of reach.
    expect(whileGone.status).toBe(200);
    expect(whileGone).toMatchObject({ code: 'DATABASE_UNAVAILABLE', error: 'The database is out of reach; try again in a few seconds' });
    // The probes: alive, and not ready while the database is gone.
    expect(await probe(url, '/healthz')).toEqual({ status: 200, body: { status: 'alive' } });
    expect(await probe(url, '/readyz')).toMatchObject({ status: 503, body: { status: 'not ready', checks: { database: false } } });

    await database.start();
    await eventually(async () => (await readHosts(url, token)).error === null, 15_000, 200);
    await eventually(async () => (await probe(url, '/readyz')).status === 200, 15_000, 200);
    expect((await probe(url, '/readyz')).body).toEqual({ status: 'ready', checks: { database: true, changeFeed: true } });
    loading = false;
    await Promise.all(clients);
    expect(exited).toBeNull();
    expect(outcomes.filter((o) => o.error === null).length).toBeGreaterThan(0);
  });
});
