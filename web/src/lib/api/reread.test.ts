import { afterEach, expect, it, vi } from 'vitest';
import { onReread, rereadLists } from './reread.ts';

afterEach(() => {
  vi.useRealTimers();
});

it('subscriptions that fail to resume together cost one re-read of every open list', () => {
  vi.useFakeTimers();
  const hosts = vi.fn();
  const operations = vi.fn();
  const offHosts = onReread(hosts);
  const offOperations = onReread(operations);

  for (let i = 0; i < 5; i++) rereadLists();
  vi.runAllTimers();
  expect(hosts).toHaveBeenCalledTimes(1);
  expect(operations).toHaveBeenCalledTimes(1);

  offHosts();
  rereadLists();
  vi.runAllTimers();
  expect(hosts).toHaveBeenCalledTimes(1);
  expect(operations).toHaveBeenCalledTimes(2);
  offOperations();
});
