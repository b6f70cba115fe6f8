import { fileURLToPath } from 'node:url';
import { mkdirSync } from 'node:fs';
import { PGlite } from '@electric-sql/pglite';
import { btree_gist } from '@electric-sql/pglite/contrib/btree_gist';
import postgres from 'postgres';
import type { Logger } from 'drizzle-orm';
import { drizzle as drizzlePglite } from 'drizzle-orm/pglite';
import { migrate as migratePglite } from 'drizzle-orm/pglite/migrator';
import { drizzle as drizzlePostgres } from 'drizzle-orm/postgres-js';
import { migrate as migratePostgres } from 'drizzle-orm/postgres-js/migrator';
import type { PgAsyncDatabase, PgAsyncTransaction } from 'drizzle-orm/pg-core/async';
import type { PgQueryResultHKT } from 'drizzle-orm/pg-core';
import { relations, type Relations } from './relations.ts';
import { packageRoot } from '../package-root.ts';

export type Db = PgAsyncDatabase<PgQueryResultHKT, Relations>;
export type Tx = PgAsyncTransaction<PgQueryResultHKT, Relations>;
/** Either the database or an open transaction: read helpers accept both. */
export type Queryable = Db | Tx;

export const NOTIFY_CHANNEL = 'passthru_changes';

export interface Database {
  db: Db;
  /**
   * Reads for live fan-out (the change log and the rows it names), on a pool of their own so
   * a burst of events never makes mutations and agents wait for a connection. The same
   * database as `db` on PGlite, which has one connection.
   */
  feedDb: Db;
  /** Authentication of requests and connections, on a pool of its own so a herd of reconnecting agents signs in while their reports queue. */
  authDb: Db;
  kind: 'pglite' | 'postgres';
  /**
   * LISTEN on the change channel: `onNotify` for each notification, `onListen` each time the
   * listening connection is (re)established. Returns the function that stops listening.
   */
  listen(onNotify: () => void, onListen: () => void): Promise<() => Promise<void>>;
  close(): Promise<void>;
}

export interface OpenOptions {
  databaseUrl: string | undefined;
  dataDir: string;
  /** Called with every SQL statement; tests count statements with it. */
  onQuery?: (sql: string) => void;
  /** PostgreSQL cancels statements of the server's pools running longer; migrations have none. */
  statementTimeoutMs?: number;
  /** The admission trigger's bound on a host's queued and running operations (migrations/*_operations_admission). */
  maxQueuedOperationsPerHost?: number;
  /** Cores per CPU a host's VMs may take: host_cores_allowed (migrations/*_host_capacity) reads it on each connection. */
  cpuAllocationRatio?: number;
}

/** The custom setting the admission trigger reads on each connection. */
const ADMISSION_SETTING = 'passthru.max_queued_operations_per_host';
/** The custom setting host_cores_allowed reads on each connection. */
const CPU_RATIO_SETTING = 'passthru.cpu_allocation_ratio';

const migrationsFolder = fileURLToPath(new URL('migrations', packageRoot));

/** Opens the configured database and brings its schema up to date. */
export async function openDatabase(options: OpenOptions): Promise<Database> {
  const logger: Logger | undefined = options.onQuery
    ? { logQuery: (query) => options.onQuery!(query) }
    : undefined;

  if (options.databaseUrl) {
    const migrator = postgres(options.databaseUrl, { max: 1, onnotice: () => {} });
    try {
      await migratePostgres(drizzlePostgres({ client: migrator, relations }), { migrationsFolder });
    } finally {
      await migrator.end({ timeout: 5 });
    }
    const settings = {
      onnotice: () => {},
      // While the database is gone, a request fails within a few seconds instead of waiting out
      // the driver's growing reconnect delay (up to 20 s by default).
      connect_timeout: 5,
      backoff: (retries: number) => Math.min(0.1 * 2 ** retries, 1),
      connection: {
        ...(options.statementTimeoutMs ? { statement_timeout: options.statementTimeoutMs } : {}),
        ...(options.maxQueuedOperationsPerHost ? { [ADMISSION_SETTING]: options.maxQueuedOperationsPerHost } : {}),
        ...(options.cpuAllocationRatio ? { [CPU_RATIO_SETTING]: options.cpuAllocationRatio } : {}),
      },
    };
    const client = postgres(options.databaseUrl, { max: 10, ...settings });
    const feedClient = postgres(options.databaseUrl, { max: 2, ...settings });
    const authClient = postgres(options.databaseUrl, { max: 2, ...settings });
    const db = drizzlePostgres({ client, relations, logger });
    return {
      db: db as unknown as Db,
      feedDb: drizzlePostgres({ client: feedClient, relations, logger }) as unknown as Db,
      authDb: drizzlePostgres({ client: authClient, relations, logger }) as unknown as Db,
      kind: 'postgres',
      async listen(onNotify, onListen) {
        const { unlisten } = await client.listen(NOTIFY_CHANNEL, onNotify, onListen);
        return unlisten;
      },
      close: async () => {
        await Promise.all([client, feedClient, authClient].map((pool) => pool.end({ timeout: 5 })));
      },
    };
  }

  mkdirSync(options.dataDir, { recursive: true });
  // btree_gist: the exclusion constraint that keeps an IOMMU group with one VM (migrations).
  const client = await PGlite.create({ dataDir: options.dataDir, extensions: { btree_gist } });
  const db = drizzlePglite({ client, relations, logger });
  await migratePglite(db, { migrationsFolder });
  // One connection, one session: set once.
  if (options.maxQueuedOperationsPerHost) await client.query(`select set_config('${ADMISSION_SETTING}', $1, false)`, [String(options.maxQueuedOperationsPerHost)]);
  if (options.cpuAllocationRatio) await client.query(`select set_config('${CPU_RATIO_SETTING}', $1, false)`, [String(options.cpuAllocationRatio)]);
  return {
    db: db as unknown as Db,
    feedDb: db as unknown as Db,
    authDb: db as unknown as Db,
    kind: 'pglite',
    async listen(onNotify, onListen) {
      const unlisten = await client.listen(NOTIFY_CHANNEL, onNotify);
      onListen();
      return unlisten;
    },
    close: () => client.close(),
  };
}
