import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import postgres from 'postgres';
import { eq } from 'drizzle-orm';
import { auditLog, devices } from '../../server/db/schema/index.ts';
import { changeLogHead, changesAfter, pruneChangeLog } from '../../server/live/change-log.ts';
import { recordAudit } from '../../server/domain/audit.ts';
import { inTransaction } from '../../server/db/transaction.ts';
import { graphql } from '../../protocol/graphql.ts';
import { TestClient, eventually } from '../support/client.ts';
import { Seed } from '../support/seed.ts';
import { startTestServer, type TestServer } from '../support/server.ts';
import { NO_TIMERS, StatementLog } from '../support/statements.ts';

const HOUR = 60 * 60 * 1000;
const rawId = (globalId: string) => Buffer.from(globalId, 'base64').toString().split(':')[1]!;

const WATCH_DEVICES = graphql(`subscription($after: String) { deviceChanged(after: $after) { cursor device { id driver host { name } } } }`);
const CHANGE_CURSOR = graphql(`{ changeCursor }`);
const WATCH_HOSTS = graphql(`subscription { hostChanged { cursor } }`);
const WATCH_ALL_DEVICES = graphql(`subscription { deviceChanged { cursor device { id driver host { name } } } }`);
const WATCH_HOST_DEVICES = graphql(`subscription($h: ID, $after: String) { deviceChanged(hostId: $h, after: $after) { cursor } }`);

describe('the change log', () => {
  let server: TestServer;
  const log = new StatementLog();
  let hostId: string;
  let deviceIds: string[];

  beforeAll(async () => {
    server = await startTestServer({
      // Nothing on a timer while statements are counted: the feed reads only when notified.
      config: { ...NO_TIMERS, maxSubscriptionsPerSocket: 1000, maxSocketsPerCredential: 1000, maxSubscriptionsPerCredential: 1000, maxSocketsPerAddress: 1000 },
      onQuery: log.onQuery,
    });
    const seed = new Seed(server.client, server.url);
    ({ id: hostId } = await seed.cluster().host({ name: 'log-host', usb: 3 }));
    deviceIds = (await seed.devices(hostId)).map((device) => device.id);
  });
  afterAll(() => server.stop());

  /** Changes a device's driver in one committed transaction, announced like any change. */
  async function setDriver(deviceId: string, driver: string) {
    await inTransaction(server.app.database.db, async (tx, changes) => {
      await tx.update(devices).set({ driver }).where(eq(devices.id, rawId(deviceId)));
      changes.device({ id: rawId(deviceId), hostId: rawId(hostId), vmIds: [] });
    });
  }

  async function cursorNow(): Promise<string> {
    return (await server.client.data(CHANGE_CURSOR)).changeCursor;
  }

  it('statements per change do not grow with the number of subscribers, resuming ones included', async () => {
    // A socket each, as dashboards are: nothing is shared but what the server shares on purpose.
    const clients = Array.from({ length: 200 }, () => new TestClient(server.url, server.client.token));
    const watch = (client: TestClient, after: string | null) => client.subscribe(WATCH_DEVICES, { after });
    const streams: ReturnType<typeof watch>[] = [];
    async function statementsForOneChange(subscribers: number, driver: string) {
      // Every other subscriber resumes from a cursor (the console after a reconnect), each from its own.
      while (streams.length < subscribers) {
        const after = streams.length % 2 ? await cursorNow() : null;
        streams.push(watch(clients[streams.length]!, after));
      }
      // A stream is live once it has seen a change made after it started; then let the last such change settle everywhere.
      let attempt = 0;
      await eventually(async () => {
        await setDriver(deviceIds[0]!, `warm-${driver}-${++attempt}`);
        return streams.every((stream) => stream.events.some((e) => e.data?.deviceChanged.device.driver?.startsWith(`warm-${driver}`)));
      });
      await Promise.all(streams.map((stream) => stream.next((e) => e.data?.deviceChanged.device.driver === `warm-${driver}-${attempt}`)));
      const statements = await log.during(async () => {
        await setDriver(deviceIds[0]!, driver);
        await Promise.all(streams.map((stream) => stream.next((e) => e.data?.deviceChanged.device.driver === driver)));
      });
      return statements.length;
    }
    const withTen = await statementsForOneChange(10, 'ten');
    const withTwoHundred = await statementsForOneChange(200, 'two-hundred');
    expect(withTwoHundred).toBe(withTen);
    // The write (lock-and-log included), the log read, the row load, and the host the selection asks for.
    expect(withTen).toBeLessThanOrEqual(8);
    for (const stream of streams) stream.close();
    await Promise.all(clients.map((client) => client.close()));
  });

  it('an audit entry and its audit:logged change are written by one statement, without BEGIN and COMMIT', async () => {
    const { db } = server.app.database;
    const head = await changeLogHead(db);
    const statements = await log.during(() => recordAudit(db, { actor: 'user:test', action: 'detachDevice', targets: ['x', 'x'], outcome: 'OK', details: { token: 'secret' } }));
    // The change feed's reads (selects, woken by the commit) apart.
    expect(statements.filter((statement) => !/^\s*select/i.test(statement))).toHaveLength(1);
    const [entry] = await db.select().from(auditLog).where(eq(auditLog.action, 'detachDevice'));
    expect(entry).toMatchObject({ actor: 'user:test', targets: ['x'], details: { token: '[redacted]' } });
    const logged = await changesAfter(db, head, 10);
    expect(logged.map((change) => change.message)).toMatchObject([{ topic: 'audit:logged', payload: { id: entry!.id, actor: 'user:test' } }]);
  });

  it('every statement that appends to the change log wakes the listeners, though none of them sends a NOTIFY itself', async () => {
    const { db } = server.app.database;
    let woken = 0;
    const unlisten = await server.app.database.listen(() => woken++, () => {});
    try {
      const statements = await log.during(() => setDriver(deviceIds[0]!, 'woken-driver'));
      expect(statements.join('\n')).not.toMatch(/notify/i);
      await eventually(async () => woken > 0);
      const before = woken;
      await recordAudit(db, { actor: 'user:test', action: 'attachDevice', targets: [], outcome: 'OK', details: {} });
      await eventually(async () => woken > before);
    } finally {
      await unlisten();
    }
  });

  it('the feed reads the rows of a change only when a subscriber in this process will receive it', async () => {
    const hosts = server.client.subscribe(WATCH_HOSTS);
    const change = (driver: string) =>
      inTransaction(server.app.database.db, async (tx, changes) => {
        await tx.update(devices).set({ driver }).where(eq(devices.id, rawId(deviceIds[1]!)));
        changes.device({ id: rawId(deviceIds[1]!), hostId: rawId(hostId), vmIds: [] });
        changes.host({ id: rawId(hostId) });
      });
    /** A device change and a host change in one transaction: the host's event shows the feed has read the batch. */
    async function deviceAndHostChange(driver: string) {
      const seen = hosts.events.length;
      return log.during(async () => {
        await change(driver);
        await hosts.next((event) => hosts.events.indexOf(event) >= seen);
      });
    }
    // Live before counting: an event from a change made after it started.
    await eventually(async () => {
      await change('warm-up');
      return hosts.events.length > 0;
    });
    const readsDevices = (statements: string[]) => statements.some((statement) => /^\s*select\b[\s\S]*\bfrom "devices"/i.test(statement));

    const unwatched = await deviceAndHostChange('unwatched');
    expect(unwatched.some((statement) => /from "hosts"/i.test(statement))).toBe(true);
    expect(readsDevices(unwatched), unwatched.join('\n---\n')).toBe(false);

    const watcher = server.client.subscribe(WATCH_ALL_DEVICES);
    await eventually(async () => {
      await setDriver(deviceIds[1]!, 'watched-warm-up');
      return watcher.events.length > 0;
    });
    const watched = await deviceAndHostChange('watched');
    expect(readsDevices(watched)).toBe(true);
    await watcher.next((event) => event.data?.deviceChanged.device.driver === 'watched');
    watcher.close();
    hosts.close();
  });

  it('cursors of one subscriber only increase, and each event shows the state it announces or a newer one', async () => {
    const stream = server.client.subscribe(WATCH_DEVICES, { after: await cursorNow() });
    for (let round = 0; round < 10; round++) {
      for (const id of deviceIds) await setDriver(id, `round-${round}`);
    }
    await stream.next((e) => e.data?.deviceChanged.device.id === deviceIds.at(-1) && e.data?.deviceChanged.device.driver === 'round-9');
    const cursors = stream.events.map((e) => Number(e.data!.deviceChanged.cursor));
    expect(cursors).toEqual([...cursors].sort((a, b) => a - b));
    expect(new Set(cursors).size).toBe(cursors.length);
    stream.close();
  });

  it('a subscriber resuming from a cursor gets the latest state of each entity changed since, once, then live changes', async () => {
    const first = server.client.subscribe(WATCH_DEVICES, { after: await cursorNow() });
    await setDriver(deviceIds[0]!, 'seen');
    const seen = await first.next((e) => e.data?.deviceChanged.device.driver === 'seen');
    first.close();

    // Missed while away: three changes of one device and one of another. Another subscriber
    // sees the last of them, so this process's feed has read them all before the resume (a
    // resume replays what the feed has read; what it reads later arrives live, coalesced).
    const tail = server.client.subscribe(WATCH_DEVICES, { after: seen.data!.deviceChanged.cursor });
    await setDriver(deviceIds[0]!, 'missed-1');
    await setDriver(deviceIds[0]!, 'missed-2');
    await setDriver(deviceIds[1]!, 'missed-other');
    await setDriver(deviceIds[0]!, 'missed-3');
    await tail.next((e) => e.data?.deviceChanged.device.driver === 'missed-3');
    tail.close();

    const resumed = server.client.subscribe(WATCH_DEVICES, { after: seen.data!.deviceChanged.cursor });
    await resumed.next((e) => e.data?.deviceChanged.device.driver === 'missed-3');
    await setDriver(deviceIds[2]!, 'live');
    await resumed.next((e) => e.data?.deviceChanged.device.driver === 'live');
    expect(resumed.events.map((e) => [e.data?.deviceChanged.device.id, e.data?.deviceChanged.device.driver])).toEqual([
      [deviceIds[1], 'missed-other'],
      [deviceIds[0], 'missed-3'],
      [deviceIds[2], 'live'],
    ]);
    resumed.close();
  });

  it('a cursor older than the retained change log is refused with CursorExpiredError', async () => {
    const old = await cursorNow();
    await setDriver(deviceIds[0]!, 'before-pruning');
    await pruneChangeLog(server.app.database.db, { maxAgeMs: HOUR, maxRows: 0 });
    const stream = server.client.subscribe(WATCH_DEVICES, { after: old });
    const refusal = await stream.next((e) => Boolean(e.errors?.length));
    expect(refusal.errors?.[0]?.extensions?.code).toBe('CursorExpiredError');
    await expect.poll(() => stream.ended).toBe(true);
  });

  it('a cursor that is not one is refused with a ValidationError', async () => {
    const stream = server.client.subscribe(WATCH_DEVICES, { after: 'yesterday' });
    const refusal = await stream.next((e) => Boolean(e.errors?.length));
    expect(refusal.errors?.[0]?.extensions?.code).toBe('ValidationError');
  });

  it('subscribers filtered by another host are not woken by this one', async () => {
    const seed = new Seed(server.client, server.url);
    const other = await seed.cluster().host({ name: 'other-host', usb: 1 });
    const after = await cursorNow();
    const elsewhere = server.client.subscribe(WATCH_HOST_DEVICES, { h: other.id, after });
    const here = server.client.subscribe(WATCH_HOST_DEVICES, { h: hostId, after });
    await setDriver(deviceIds[0]!, 'scoped');
    await here.next();
    expect(elsewhere.events).toEqual([]);
    elsewhere.close();
    here.close();
    await other.agent.disconnect();
  });
});

// Needs a PostgreSQL server: CI's second pass sets DATABASE_URL.
describe.skipIf(!process.env.DATABASE_URL)('the change log on a PostgreSQL server', () => {
  it('changes committed while LISTEN is down reach subscribers once it is back', async () => {
    // No poll: only LISTEN coming back can deliver the change.
    const server = await startTestServer({ config: { changePollMs: HOUR } });
    const seed = new Seed(server.client, server.url);
    const { id: hostId, agent } = await seed.cluster().host({ name: 'listen-host', usb: 1 });
    const [device] = await seed.devices(hostId);
    const { changeCursor } = await server.client.data(CHANGE_CURSOR);
    const stream = server.client.subscribe(WATCH_DEVICES, { after: changeCursor });

    const admin = postgres(server.database.databaseUrl!, { max: 1, onnotice: () => {} });
    const killed = await admin`select pg_terminate_backend(pid) from pg_stat_activity where datname = current_database() and query ilike 'listen%'`;
    await admin.end();
    expect(killed.length).toBe(1);
    await inTransaction(server.app.database.db, async (tx, changes) => {
      await tx.update(devices).set({ driver: 'while-deaf' }).where(eq(devices.id, rawId(device!.id)));
      changes.device({ id: rawId(device!.id), hostId: rawId(hostId), vmIds: [] });
    });
    await stream.next((e) => e.data?.deviceChanged.device.driver === 'while-deaf', 30_000);
    stream.close();
    await agent.disconnect();
    await server.stop();
  });
});
