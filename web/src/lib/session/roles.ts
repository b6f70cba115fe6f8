import type { Role } from './session.svelte.ts';

/** Least to most: each role includes the ones before it. */
export const ROLES: readonly Role[] = ['VIEWER', 'OPERATOR', 'ADMIN'];

export const ROLE_LABELS: Record<Role, string> = { VIEWER: 'Viewer', OPERATOR: 'Operator', ADMIN: 'Admin' };

export const ROLE_HINTS: Record<Role, string> = {
  VIEWER: 'Read everything and subscribe to changes',
  OPERATOR: 'Also move devices and provision, power and delete VMs',
  ADMIN: 'Also plans, clusters, hosts, users and everyone’s tokens',
};

/** The roles someone with `own` may hand out (a token never gets more than its owner). */
export function rolesUpTo(own: Role | null): Role[] {
  if (!own) return [];
  return ROLES.slice(0, ROLES.indexOf(own) + 1);
}
