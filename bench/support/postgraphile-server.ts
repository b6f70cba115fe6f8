// PostGraphile v4 over the same tables as Passthru, the comparison of bench/compare.ts: its
// default schema (allHosts, devicesByHostId, vmByVmIdAndHostId...) plus the pool aggregate the
// bench adds as a SQL function (bench/comparison/read-fleet.ts), no mutations, on one core.
//
// Started by bench/compare.ts with graphql 15 preloaded (support/postgraphile-graphql.cjs):
//   PORT=… DATABASE_URL=… node -r ./bench/support/postgraphile-graphql.cjs --import tsx bench/support/postgraphile-server.ts
import { createServer } from 'node:http';
import { postgraphile } from 'postgraphile';

const databaseUrl = process.env.DATABASE_URL;
if (!databaseUrl) throw new Error('DATABASE_URL is required');

const handler = postgraphile(databaseUrl, ['public', 'bench_postgraphile'], {
  disableDefaultMutations: true,
  // As a team would deploy it: no GraphiQL, no query logging, no watch mode.
  graphiql: false,
  disableQueryLog: true,
  retryOnInitFail: false,
});
const server = createServer(handler);
server.listen(Number(process.env.PORT), '127.0.0.1', () => console.log('postgraphile listening'));
for (const signal of ['SIGINT', 'SIGTERM'] as const) process.once(signal, () => server.close(() => process.exit(0)));
