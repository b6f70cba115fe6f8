// A fresh PostgreSQL database per bench run (as tests/support/database.ts makes one per test
// file), dropped at the end, plus the bench's own observation hooks inside it.
import postgres from 'postgres';

export const POSTGRES_URL = process.env.BENCH_POSTGRES_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';

export interface BenchDatabase {
  name: string;
  url: string;
  /** A connection of the bench's own; every statement on it is counted in `ownTransactions`. */
  sql: postgres.Sql;
  ownTransactions: number;
  /** Committed transactions of this database so far, minus the bench's own statements. */
  transactionsCommitted(): Promise<number>;
  drop(): Promise<void>;
}

export async function createBenchDatabase(): Promise<BenchDatabase> {
  const name = `passthru_bench_${process.pid}_${Math.random().toString(36).slice(2, 8)}`;
  const admin = postgres(POSTGRES_URL, { max: 1, onnotice: () => {} });
  await admin.unsafe(`create database ${name}`);
  const url = new URL(POSTGRES_URL);
  url.pathname = `/${name}`;
  const sql = postgres(url.toString(), { max: 1, onnotice: () => {} });
  const database: BenchDatabase = {
    name,
    url: url.toString(),
    sql,
    ownTransactions: 0,
    async transactionsCommitted() {
      // Read from another database's connection, so reading is not itself counted here.
      const [row] = await admin<{ commits: string }[]>`select xact_commit as commits from pg_stat_database where datname = ${name}`;
      return Number(row?.commits ?? Number.NaN) - database.ownTransactions;
    },
    async drop() {
      await sql.end({ timeout: 5 });
      await admin.unsafe(`drop database if exists ${name} with (force)`);
      await admin.end({ timeout: 5 });
    },
  };
  return database;
}

/** Runs `statement` on the bench's own connection, counting it as one of the bench's transactions. */
export async function ownQuery<T extends readonly object[]>(database: BenchDatabase, run: (sql: postgres.Sql) => Promise<T>): Promise<T> {
  database.ownTransactions++;
  return run(database.sql);
}
