import postgres from 'postgres';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PostgresInstance, postgresBin } from './support/postgres-instance.ts';

// postgres.js 3.4.9 writes small messages on the next tick; when the connection has closed by
// then, it wrote to a null socket and the TypeError, thrown from a timer, ended the process
// (upstream #1154, #1066, #1208; no release fixes it). patches/postgres+3.4.9.patch guards it.
describe.skipIf(!postgresBin())('the database driver when a connection dies under it', () => {
  let database: PostgresInstance;

  beforeAll(async () => {
    database = await PostgresInstance.create();
  });
  afterAll(() => database.destroy());

  it('a query on a connection whose backend was killed fails with CONNECTION_CLOSED, and the process lives on', async () => {
    const sql = postgres(database.url, { max: 1, onnotice: () => {} });
    const admin = postgres(database.url, { max: 1, onnotice: () => {} });
    const uncaught: unknown[] = [];
    const record = (error: unknown) => uncaught.push(error);
    process.on('uncaughtException', record);
    try {
      const reserved = await sql.reserve();
      const [backend] = await reserved<{ pid: number }[]>`select pg_backend_pid() as pid`;
      await admin`select pg_terminate_backend(${backend!.pid})`;
      // The first query finds the connection gone; the ones after it write to the closed connection.
      const outcomes: PromiseSettledResult<unknown>[] = [];
      for (let n = 0; n < 3; n++) {
        outcomes.push(...(await Promise.allSettled([reserved`select 1`])));
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
      expect(uncaught).toEqual([]);
      expect(outcomes.map((outcome) => outcome.status)).toEqual(['rejected', 'rejected', 'rejected']);
      for (const outcome of outcomes) {
        if (outcome.status === 'rejected') expect(String(outcome.reason)).toMatch(/ECONNRESET|CONNECTION_CLOSED|terminating connection/);
      }
      reserved.release();
    } finally {
      process.off('uncaughtException', record);
      await Promise.all([sql.end({ timeout: 1 }), admin.end({ timeout: 1 })]);
    }
  });
});
