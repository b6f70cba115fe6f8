import { describe, expect, it } from 'vitest';
import { createLogger } from '../../server/logger.ts';
import { gracefulShutdown } from '../../server/shutdown.ts';

const logger = createLogger('silent');

function exits() {
  const codes: number[] = [];
  let exited: (code: number) => void = () => {};
  const next = new Promise<number>((resolve) => (exited = resolve));
  const exit = (code: number) => {
    codes.push(code);
    exited(code);
  };
  return { codes, next, exit };
}

describe('graceful shutdown', () => {
  it('exits 0 once everything has stopped', async () => {
    const { codes, exit } = exits();
    const stopped: string[] = [];
    await gracefulShutdown({ logger, exit, stop: async () => void stopped.push('app') })('SIGTERM');
    expect(stopped).toEqual(['app']);
    expect(codes).toEqual([0]);
  });

  it('a shutdown that outlasts its bound exits 1 without waiting for it', async () => {
    const { next, exit } = exits();
    const started = Date.now();
    void gracefulShutdown({ logger, exit, timeoutMs: 100, stop: () => new Promise<void>(() => {}) })('SIGTERM');
    expect(await next).toBe(1);
    expect(Date.now() - started).toBeLessThan(2_000);
  });

  it('a second signal while shutting down does not stop twice', async () => {
    const { codes, exit } = exits();
    let stops = 0;
    let finish: () => void = () => {};
    const stop = () => {
      stops += 1;
      return new Promise<void>((resolve) => (finish = resolve));
    };
    const shutDown = gracefulShutdown({ logger, exit, stop });
    const first = shutDown('SIGINT');
    await shutDown('SIGINT');
    finish();
    await first;
    expect(stops).toBe(1);
    expect(codes).toEqual([0]);
  });

  it('a stop that fails exits 1', async () => {
    const { codes, exit } = exits();
    await gracefulShutdown({ logger, exit, stop: async () => Promise.reject(new Error('pool would not end')) })('SIGTERM');
    expect(codes).toEqual([1]);
  });
});
