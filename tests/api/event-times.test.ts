import { sql } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { auditLog, changeLog, deviceEvents, devices } from '../../server/db/schema/index.ts';
import { insertFleet } from '../support/fleet.ts';
import { startTestServer, type TestServer } from '../support/server.ts';

describe('timestamps that order events are the time of their statement, not of their transaction', () => {
  let server: TestServer;

  beforeAll(async () => {
    server = await startTestServer();
  });
  afterAll(() => server.stop());

  it('two device events, two audit entries and two changes written in one transaction are ordered in time', async () => {
    const { hosts } = await insertFleet(server.app.database.db, 'timed', 1);
    const [device] = await server.app.database.db.select({ id: devices.id }).from(devices).where(sql`${devices.hostId} = ${hosts[0]!.id}`).limit(1);
    const written = await server.app.database.db.transaction(async (tx) => {
      const pause = () => tx.execute(sql`select pg_sleep(0.01)`);
      const events = [];
      const audits = [];
      const changes = [];
      for (let n = 0; n < 2; n++) {
        events.push((await tx.insert(deviceEvents).values({ deviceId: device!.id, toStatus: 'ATTACHED', actor: 'test' }).returning({ at: deviceEvents.at }))[0]!.at);
        audits.push((await tx.insert(auditLog).values({ actor: 'test', action: 'timed', outcome: 'OK', details: {} }).returning({ at: auditLog.at }))[0]!.at);
        changes.push((await tx.insert(changeLog).values({ topic: 'test', payload: {} }).returning({ at: changeLog.at }))[0]!.at);
        await pause();
      }
      return { events, audits, changes };
    });
    for (const [first, second] of [written.events, written.audits, written.changes]) {
      expect(second!.getTime()).toBeGreaterThan(first!.getTime());
    }
  });
});
