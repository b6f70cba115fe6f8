import type { Role } from '../session/session.svelte.ts';
import { usernameProblem } from '../../../../protocol/rules.ts';

export const MIN_PASSWORD = 12;

export function usernameError(username: string): string | undefined {
  return usernameProblem(username) ?? undefined;
}

export function passwordError(password: string): string | undefined {
  return password.length >= MIN_PASSWORD ? undefined : `At least ${MIN_PASSWORD} characters.`;
}

/** The "Add user" form. */
export class UserForm {
  username = $state('');
  password = $state('');
  role = $state<Role>('VIEWER');

  errors = $derived.by(() => {
    const errors: Partial<Record<'username' | 'password', string>> = {};
    const u = usernameError(this.username.trim());
    if (u) errors.username = u;
    const p = passwordError(this.password);
    if (p) errors.password = p;
    return errors;
  });

  get valid() {
    return Object.keys(this.errors).length === 0;
  }

  input() {
    return { username: this.username.trim(), password: this.password, role: this.role };
  }
}
