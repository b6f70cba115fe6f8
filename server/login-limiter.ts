import { lt } from 'drizzle-orm';
import { RateLimiterDrizzle, RateLimiterRes } from 'rate-limiter-flexible';
import type { Db } from './db/client.ts';
import { loginAttempts } from './db/schema/index.ts';
import { TooManyAttemptsError } from './domain/errors.ts';

/** Attempts one account may take in ACCOUNT_WINDOW_S, from anywhere. */
export const ACCOUNT_ATTEMPTS = 10;
const ACCOUNT_WINDOW_S = 15 * 60;
/** Attempts one client address may take a minute, whatever the accounts (a shared NAT or proxy gets this much). */
export const ADDRESS_ATTEMPTS = 50;

/**
 * Slows password guessing. An attempt is counted before its password is checked, so a burst of
 * guesses past the budget is refused without being verified: per account whatever the
 * address, and per client address. The counts are rows in the database (rate-limiter-flexible's
 * drizzle store), so every server process shares them.
 */
export class LoginLimiter {
  readonly #perAccount: RateLimiterDrizzle;
  readonly #perAddress: RateLimiterDrizzle;

  constructor(private readonly db: Db) {
    const store = { storeClient: db, schema: loginAttempts, clearExpiredByTimeout: false };
    this.#perAccount = new RateLimiterDrizzle({ ...store, keyPrefix: 'account', points: ACCOUNT_ATTEMPTS, duration: ACCOUNT_WINDOW_S });
    this.#perAddress = new RateLimiterDrizzle({ ...store, keyPrefix: 'address', points: ADDRESS_ATTEMPTS, duration: 60 });
  }

  /** Counts an attempt; throws TooManyAttemptsError, saying when to try again, once either budget is spent. */
  async attempt(username: string, address: string) {
    const counted = await Promise.allSettled([this.#perAccount.consume(username), this.#perAddress.consume(address)]);
    const waits: number[] = [];
    for (const result of counted) {
      if (result.status === 'fulfilled') continue;
      // A spent budget rejects with its state; anything else is the store failing.
      if (!(result.reason instanceof RateLimiterRes)) throw result.reason;
      waits.push(result.reason.msBeforeNext);
    }
    if (waits.length > 0) throw new TooManyAttemptsError(Math.ceil(Math.max(...waits) / 1000));
  }

  /** The right password gives the account its budget back. */
  async succeeded(username: string) {
    await this.#perAccount.delete(username);
  }

  /** Drops counts whose window has passed. */
  async prune(now = new Date()) {
    await this.db.delete(loginAttempts).where(lt(loginAttempts.expire, now));
  }
}
