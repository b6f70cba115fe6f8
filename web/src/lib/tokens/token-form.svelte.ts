import type { Role } from '../session/session.svelte.ts';
import { rolesUpTo } from '../session/roles.ts';
import { LABEL_MAX_LENGTH } from '../../../../protocol/rules.ts';

export const EXPIRY_CHOICES: { days: number | null; label: string }[] = [
  { days: 30, label: '30 days' },
  { days: 90, label: '90 days' },
  { days: 365, label: '1 year' },
  { days: 7, label: '7 days' },
  { days: null, label: 'Never' },
];

/** The "New API token" form: a name, a role no higher than the user's own, an optional expiry. */
export class TokenForm {
  name = $state('');
  role = $state<Role>('VIEWER');
  /** Days until it expires; '' for never. */
  expiry = $state('30');
  readonly roles: Role[];

  constructor(ownRole: Role | null) {
    this.roles = rolesUpTo(ownRole);
  }

  errors = $derived.by(() => {
    const errors: Partial<Record<'name' | 'role', string>> = {};
    if (this.name.trim().length < 1 || this.name.trim().length > LABEL_MAX_LENGTH) errors.name = `Name it after what uses it, 1 to ${LABEL_MAX_LENGTH} characters.`;
    if (!this.roles.includes(this.role)) errors.role = 'A token cannot do more than you can.';
    return errors;
  });

  get valid() {
    return Object.keys(this.errors).length === 0;
  }

  /** CreateApiTokenInput, with the expiry counted from `now`. */
  input(now = Date.now()): { name: string; role: Role; expiresAt?: string } {
    const days = this.expiry === '' ? null : Number(this.expiry);
    return { name: this.name.trim(), role: this.role, ...(days ? { expiresAt: new Date(now + days * 86_400_000).toISOString() } : {}) };
  }
}
