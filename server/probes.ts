import type { IncomingMessage, ServerResponse } from 'node:http';
import { sql } from 'drizzle-orm';
import type { Database } from './db/client.ts';
import type { ChangeFeed } from './live/change-feed.ts';

/** How long /readyz waits for the database before it says not ready. */
const DATABASE_CHECK_MS = 2000;

function json(res: ServerResponse, status: number, body: unknown) {
  res.writeHead(status, { 'content-type': 'application/json', 'cache-control': 'no-store' });
  res.end(JSON.stringify(body));
}

async function databaseAnswers(database: Database): Promise<boolean> {
  const timeout = new Promise<false>((resolve) => setTimeout(() => resolve(false), DATABASE_CHECK_MS).unref());
  const answered = database.db.execute(sql`select 1`).then(
    () => true,
    () => false,
  );
  return Promise.race([answered, timeout]);
}

/**
 * Probes for load balancers and Kubernetes: /healthz answers while the process runs; /readyz
 * answers 200 only while the database answers and the change feed is caught up, 503 otherwise,
 * each check named in the JSON. (Migrations are applied before the server listens.) Returns the
 * handler for a probe's path, or null for any other request.
 */
export function probes(database: Database, feed: ChangeFeed) {
  return (req: IncomingMessage): ((res: ServerResponse) => Promise<void>) | null => {
    const path = req.url?.split('?')[0];
    if (path === '/healthz') return async (res) => json(res, 200, { status: 'alive' });
    if (path !== '/readyz') return null;
    return async (res) => {
      const checks = { database: await databaseAnswers(database), changeFeed: feed.caughtUp };
      const ready = checks.database && checks.changeFeed;
      json(res, ready ? 200 : 503, { status: ready ? 'ready' : 'not ready', checks });
    };
  };
}
