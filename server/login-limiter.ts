import { RateLimiterMemory, RateLimiterRes } from 'rate-limiter-flexible';
import { TooManyAttemptsError } from './domain/errors.ts';

/**
 * Slows password guessing: a few failures per username and address, and a wider budget per
 * address. Kept in memory, so each server process counts on its own.
 */
export class LoginLimiter {
  private readonly perAccount = new RateLimiterMemory({ points: 5, duration: 60 });
  private readonly perAddress = new RateLimiterMemory({ points: 30, duration: 60 });

  /** Throws TooManyAttemptsError while either budget is spent. */
  async check(username: string, address: string) {
    for (const [limiter, key] of [
      [this.perAccount, `${username}|${address}`],
      [this.perAddress, address],
    ] as const) {
      const state = await limiter.get(key);
      if (state && state.remainingPoints <= 0) throw new TooManyAttemptsError(Math.ceil(state.msBeforeNext / 1000));
    }
  }

  async failed(username: string, address: string) {
    await Promise.all([
      this.perAccount.consume(`${username}|${address}`).catch(ignoreSpent),
      this.perAddress.consume(address).catch(ignoreSpent),
    ]);
  }

  async succeeded(username: string, address: string) {
    await this.perAccount.delete(`${username}|${address}`);
  }
}

function ignoreSpent(error: unknown) {
  if (!(error instanceof RateLimiterRes)) throw error;
}
