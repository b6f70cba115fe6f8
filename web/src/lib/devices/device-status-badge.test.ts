import { describe, expect, it } from 'vitest';
import { render, screen } from '@testing-library/svelte';
import DeviceStatusBadge from './DeviceStatusBadge.svelte';
import type { DeviceStatus } from './fragments.ts';

const cases: [DeviceStatus, string, boolean][] = [
  ['ATTACHED', 'Attached', false],
  ['DETACHED', 'Detached', false],
  ['ASSIGNED', 'Assigned', false],
  ['DETACHING', 'Detaching…', true],
  ['ATTACHING', 'Attaching…', true],
  ['ASSIGNING', 'Assigning…', true],
  ['RELEASING', 'Releasing…', true],
  ['MISSING', 'Missing', false],
];

describe('device status badge', () => {
  it.each(cases)('%s reads "%s" (animated: %s)', (status, label, animated) => {
    const { container } = render(DeviceStatusBadge, { status });
    expect(screen.getByText(label)).toBeTruthy();
    expect(container.querySelector('[data-status]')?.getAttribute('data-status')).toBe(status);
    const badge = container.querySelector('.badge')!;
    expect(badge.classList.contains('busy')).toBe(animated);
    expect(badge.getAttribute('data-busy')).toBe(animated ? 'true' : null);
  });

  it('gives stable and in-flight states different tones', () => {
    const tone = (status: DeviceStatus) => {
      const { container, unmount } = render(DeviceStatusBadge, { status });
      const cls = [...container.querySelector('.badge')!.classList].find((c) => c.startsWith('tone-'));
      unmount();
      return cls;
    };
    expect(tone('ATTACHED')).toBe('tone-neutral');
    expect(tone('DETACHED')).toBe('tone-info');
    expect(tone('ASSIGNED')).toBe('tone-ok');
    expect(tone('DETACHING')).toBe('tone-warn');
    expect(tone('MISSING')).toBe('tone-danger');
  });
});
