import { spawn, type ChildProcess } from 'node:child_process';
import { createServer } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { eq } from 'drizzle-orm';
import { hosts } from '../../server/db/schema/index.ts';
import { inTransaction } from '../../server/db/transaction.ts';
import { graphql } from '../../protocol/graphql.ts';
import { eventually, type TestClient } from '../support/client.ts';
import { createTestDatabase } from '../support/database.ts';
import { Seed } from '../support/seed.ts';
import { ADMIN, signedInClient, startTestServer, type TestServer } from '../support/server.ts';

const CHANGE_CURSOR = graphql(`{ changeCursor }`);
const WATCH_HOST_NAMES = graphql(`subscription($after: String) { hostChanged(after: $after) { host { name } } }`);
const CLUSTER_NAMES = graphql(`{ clusters { name } }`);
const WATCH_DEVICES = graphql(`subscription { deviceChanged { device { id status } } }`);
const DETACH = graphql(`mutation($id: ID!) { detachDevice(input: { deviceId: $id }) { __typename } }`);
const ATTACH = graphql(`mutation($id: ID!) { attachDevice(input: { deviceId: $id }) { __typename } }`);

describe('change announcements', () => {
  let server: TestServer;
  beforeAll(async () => {
    server = await startTestServer();
  });
  afterAll(() => server.stop());

  it('a rolled-back change is never announced; a committed one is', async () => {
    const seed = new Seed(server.client, server.url);
    const { id: hostId, agent } = await seed.cluster().host({ name: 'bus-host', usb: 1 });
    // From the head of the log: the stream misses nothing committed after it, however late it starts.
    const { changeCursor } = await server.client.data(CHANGE_CURSOR);
    const watch = server.client.subscribe(WATCH_HOST_NAMES, { after: changeCursor });
    const id = Buffer.from(hostId, 'base64').toString().split(':')[1]!;

    await expect(
      inTransaction(server.app.database.db, async (tx, changes) => {
        await tx.update(hosts).set({ name: 'renamed-then-rolled-back' }).where(eq(hosts.id, id));
        changes.host({ id });
        throw new Error('abort');
      }),
    ).rejects.toThrow('abort');
    await inTransaction(server.app.database.db, async (tx, changes) => {
      await tx.update(hosts).set({ name: 'renamed' }).where(eq(hosts.id, id));
      changes.host({ id });
    });
    await watch.next((e) => e.data?.hostChanged.host.name === 'renamed');
    // Changes are delivered in commit order, so an announced rollback would have come first.
    expect(watch.events.map((e) => e.data?.hostChanged.host.name)).not.toContain('renamed-then-rolled-back');
    watch.close();
    await agent.disconnect();
  });

  it('a restarted server keeps its data (embedded database on disk)', async () => {
    const database = await createTestDatabase();
    const first = await startTestServer({ database });
    await new Seed(first.client, first.url).cluster('kept');
    await first.stop();
    const second = await startTestServer({ database });
    expect((await second.client.data(CLUSTER_NAMES)).clusters).toEqual([{ name: 'kept' }]);
    await second.stop();
    await database.drop();
  });
});

async function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const probe = createServer().listen(0, () => {
      const { port } = probe.address() as { port: number };
      probe.close(() => resolve(port));
    });
  });
}

// Needs a PostgreSQL server: CI's second pass sets DATABASE_URL.
describe.skipIf(!process.env.DATABASE_URL)('two server processes on one PostgreSQL database', () => {
  let inProcess: TestServer;
  let child: ChildProcess;
  let childClient: TestClient;

  beforeAll(async () => {
    const database = await createTestDatabase();
    inProcess = await startTestServer({ database });
    const port = await freePort();
    child = spawn(process.execPath, ['--import', 'tsx', 'server/main.ts'], {
      env: { ...process.env, DATABASE_URL: database.databaseUrl, PORT: String(port), LOG_LEVEL: 'warn' },
      stdio: 'inherit',
    });
    const childUrl = `http://127.0.0.1:${port}`;
    await eventually(
      () =>
        fetch(`${childUrl}/graphql`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"query":"{ __typename }"}' })
          .then((r) => r.ok)
          .catch(() => false),
      60_000,
      250,
    );
    childClient = await signedInClient(childUrl, ADMIN, 'ADMIN');
    const stopServer = inProcess.stop;
    inProcess.stop = async () => {
      await stopServer();
      await database.drop();
    };
  });
  afterAll(async () => {
    await childClient.close();
    child.kill('SIGTERM');
    await new Promise((resolve) => child.once('exit', resolve));
    await inProcess.stop();
  });

  it('a subscriber on one process sees a change made through the other, both ways', async () => {
    const seedViaChild = new Seed(childClient, childClient.url);
    const { id: hostId, agent } = await seedViaChild.cluster().host({ name: 'shared-host', usb: 1 });
    const [usb] = await seedViaChild.devices(hostId);

    const watchHere = inProcess.client.subscribe(WATCH_DEVICES);
    const watchThere = childClient.subscribe(WATCH_DEVICES);
    await new Promise((resolve) => setTimeout(resolve, 300));

    // A change made through the child process...
    await childClient.data(DETACH, { id: usb!.id });
    // ...is seen by this process's subscriber, through to its completion by the agent.
    await watchHere.next((e) => e.data?.deviceChanged.device.id === usb!.id && e.data.deviceChanged.device.status === 'DETACHED');

    await inProcess.client.data(ATTACH, { id: usb!.id });
    await watchThere.next((e) => e.data?.deviceChanged.device.id === usb!.id && e.data.deviceChanged.device.status === 'ATTACHED');
    watchHere.close();
    watchThere.close();
    await agent.disconnect();
  });
});
