import { describe, expect, it } from 'vitest';
import { render, screen } from '@testing-library/svelte';
import OutcomeBadge from './OutcomeBadge.svelte';
import { actionLabel, decodeGlobalId, prettyDetails, rangeArgs } from './audit-view.ts';

function tone(outcome: string) {
  const { container, unmount } = render(OutcomeBadge, { outcome });
  const cls = [...container.querySelector('.badge')!.classList].find((c) => c.startsWith('tone-'));
  unmount();
  return cls;
}

describe('audit outcome badge', () => {
  it.each([
    ['OK', 'tone-ok'],
    ['NotAuthorizedError', 'tone-danger'],
    ['TooManyAttemptsError', 'tone-danger'],
    ['InternalError', 'tone-danger'],
    ['ValidationError', 'tone-warn'],
    ['NotFoundError', 'tone-warn'],
  ])('%s is %s', (outcome, expected) => {
    expect(tone(outcome)).toBe(expected);
  });

  it('reads the refusal typename as is', () => {
    render(OutcomeBadge, { outcome: 'NotAuthorizedError' });
    expect(screen.getByText('NotAuthorizedError')).toBeTruthy();
  });
});

describe('audit view helpers', () => {
  it('turns time ranges into since/until', () => {
    const now = Date.parse('2030-01-02T00:00:00Z');
    expect(rangeArgs('all', now, { from: '', to: '' })).toEqual({ since: null, until: null });
    expect(rangeArgs('24h', now, { from: '', to: '' })).toEqual({ since: '2030-01-01T00:00:00.000Z', until: null });
    expect(rangeArgs('custom', now, { from: '', to: '' })).toEqual({ since: null, until: null });
    const custom = rangeArgs('custom', now, { from: '2030-01-01T10:00', to: '' });
    expect(custom.since).toBe(new Date('2030-01-01T10:00').toISOString());
  });

  it('decodes global IDs and pretty-prints details', () => {
    expect(decodeGlobalId(btoa('Host:abc-1'))).toEqual({ type: 'Host', raw: 'abc-1' });
    expect(decodeGlobalId('not base64!')).toBeNull();
    expect(prettyDetails('{"input":{"name":"ci"}}')).toBe('{\n  "input": {\n    "name": "ci"\n  }\n}');
    expect(prettyDetails('oops')).toBe('oops');
    expect(actionLabel('createApiToken')).toBe('Create API token');
    expect(actionLabel('rotateHostToken')).toBe('Rotate host token');
  });
});
