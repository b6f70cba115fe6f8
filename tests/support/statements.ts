import type { Config } from '../../server/config.ts';

const HOUR = 60 * 60 * 1000;

/** Server settings under which no timer sends a statement, so what a test counts is its own work's. */
export const NO_TIMERS = { sweepIntervalMs: HOUR, changePollMs: HOUR, heartbeatFlushIntervalMs: HOUR } satisfies Partial<Config>;

/** Records the SQL statements a server sends while some work runs: pass `onQuery` to the test server. */
export class StatementLog {
  #recording: string[] | null = null;

  readonly onQuery = (sql: string) => {
    this.#recording?.push(sql);
  };

  /** The statements sent while `work` ran. */
  async during(work: () => Promise<unknown>): Promise<string[]> {
    const recorded: string[] = [];
    this.#recording = recorded;
    try {
      await work();
    } finally {
      this.#recording = null;
    }
    return recorded;
  }
}
