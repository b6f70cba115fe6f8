import type { Role } from './session.svelte.ts';
import { USER_ROLES } from '../../../../protocol/rules.ts';

/** Least to most: each role includes the ones before it (the server's order, from protocol/rules.ts). */
export const ROLES: readonly Role[] = USER_ROLES;

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
