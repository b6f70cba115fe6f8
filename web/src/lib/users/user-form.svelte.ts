import type { Role } from '../session/session.svelte.ts';

const USERNAME = /^[a-z0-9._-]{1,32}$/;
export const MIN_PASSWORD = 12;

export function usernameError(username: string): string | undefined {
  return USERNAME.test(username) ? undefined : '1 to 32 lowercase letters, digits, dots, dashes or underscores.';
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
