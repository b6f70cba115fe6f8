import { describe, expect, it, vi } from 'vitest';
import { fireEvent, render, screen } from '@testing-library/svelte';
import NewTokenModal from './NewTokenModal.svelte';
import type { TokenForm } from './token-form.svelte.ts';
import { rolesUpTo } from '../session/roles.ts';

function roleOptions() {
  return [...(screen.getByLabelText('Role') as HTMLSelectElement).options].map((o) => o.value);
}

describe('New API token modal', () => {
  it.each([
    ['VIEWER', ['VIEWER']],
    ['OPERATOR', ['VIEWER', 'OPERATOR']],
    ['ADMIN', ['VIEWER', 'OPERATOR', 'ADMIN']],
  ] as const)('offers a %s only roles up to their own', (ownRole, expected) => {
    render(NewTokenModal, { ownRole, onsubmit: () => {}, onclose: () => {} });
    expect(roleOptions()).toEqual(expected);
    // Least privilege by default.
    expect((screen.getByLabelText('Role') as HTMLSelectElement).value).toBe('VIEWER');
  });

  it('offers nothing when nobody is signed in', () => {
    expect(rolesUpTo(null)).toEqual([]);
  });

  it('asks for a name before sending', async () => {
    const onsubmit = vi.fn();
    render(NewTokenModal, { ownRole: 'OPERATOR', onsubmit, onclose: () => {} });
    await fireEvent.click(screen.getByRole('button', { name: 'Create token' }));
    expect(onsubmit).not.toHaveBeenCalled();
    expect(screen.getByText(/1 to 64 characters/)).toBeTruthy();
  });

  it('sends name, role and an expiry counted from now; none for "Never"', async () => {
    const onsubmit = vi.fn<(form: TokenForm) => void>();
    render(NewTokenModal, { ownRole: 'OPERATOR', onsubmit, onclose: () => {} });
    await fireEvent.input(screen.getByLabelText('Name'), { target: { value: ' ci ' } });
    await fireEvent.change(screen.getByLabelText('Role'), { target: { value: 'OPERATOR' } });
    await fireEvent.click(screen.getByRole('button', { name: 'Create token' }));
    const form = onsubmit.mock.calls[0]![0];
    const now = Date.parse('2030-01-01T00:00:00Z');
    expect(form.input(now)).toEqual({ name: 'ci', role: 'OPERATOR', expiresAt: '2030-01-31T00:00:00.000Z' });
    await fireEvent.change(screen.getByLabelText('Expires'), { target: { value: '' } });
    expect(form.input(now)).toEqual({ name: 'ci', role: 'OPERATOR' });
  });

  it('shows the secret once it exists, with a copy button and a warning, and no form', () => {
    render(NewTokenModal, { ownRole: 'ADMIN', created: { name: 'ci', token: 'pth_secret_123' }, onsubmit: () => {}, onclose: () => {} });
    expect(screen.getByRole('dialog', { name: 'Token ci created' })).toBeTruthy();
    expect(screen.getByText('pth_secret_123')).toBeTruthy();
    expect(screen.getByRole('button', { name: 'Copy API token' })).toBeTruthy();
    expect(screen.getByRole('note').textContent).toMatch(/shown only once/);
    expect(screen.queryByLabelText('Name')).toBeNull();
  });

  it('shows the server’s refusal beside the button', () => {
    render(NewTokenModal, { ownRole: 'ADMIN', error: 'A token cannot have a higher role than its owner', onsubmit: () => {}, onclose: () => {} });
    expect(screen.getByRole('alert').textContent).toContain('higher role');
  });
});
