// The floor of the read benchmark (bench/compare.ts): a bare node:http server that answers
// every POST with the result of one hand-written json_agg statement (read-fleet.ts
// FLOOR_DASHBOARD_SQL), the whole response body built by PostgreSQL. No GraphQL, no
// authentication, no mapping: what the dashboard costs when only the SQL is left.
//
//   PORT=… DATABASE_URL=… node --import tsx bench/support/read-floor-server.ts
import { createServer } from 'node:http';
import postgres from 'postgres';
import { FLOOR_DASHBOARD_SQL } from '../comparison/read-fleet.ts';

const databaseUrl = process.env.DATABASE_URL;
if (!databaseUrl) throw new Error('DATABASE_URL is required');
const sql = postgres(databaseUrl, { max: 10, onnotice: () => {} });

const server = createServer((request, response) => {
  request.resume();
  request.on('end', () => {
    sql
      .unsafe<{ body: string }[]>(FLOOR_DASHBOARD_SQL, [], { prepare: true })
      .then(([row]) => {
        response.writeHead(200, { 'content-type': 'application/json' });
        response.end(row?.body ?? '{"errors":[{"message":"no row"}]}');
      })
      .catch((error: Error) => {
        response.writeHead(500, { 'content-type': 'application/json' });
        response.end(JSON.stringify({ errors: [{ message: error.message }] }));
      });
  });
});
server.listen(Number(process.env.PORT), '127.0.0.1', () => console.log('read floor listening'));
for (const signal of ['SIGINT', 'SIGTERM'] as const) process.once(signal, () => void sql.end({ timeout: 2 }).finally(() => process.exit(0)));
