import { expect, it } from 'vitest';
import { render, screen } from '@testing-library/svelte';
import LastHeard from './LastHeard.svelte';

const anHourAgo = new Date(Date.now() - 3_600_000).toISOString();

it('an online host reads "Now", not the age of its stored heartbeat (heartbeats are not announced)', () => {
  render(LastHeard, { status: 'ONLINE', at: anHourAgo });
  expect(screen.getByText('Now')).toBeTruthy();
  expect(screen.queryByText(/ago/)).toBeNull();
});

it('an offline host reads how long ago it was last heard', () => {
  const { container } = render(LastHeard, { status: 'OFFLINE', at: anHourAgo });
  expect(container.querySelector('time')?.getAttribute('datetime')).toBe(anHourAgo);
  expect(screen.queryByText('Now')).toBeNull();
});
