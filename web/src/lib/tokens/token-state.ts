import type { Tone } from '../ui/tones.ts';
import { absoluteTime } from '../format.ts';

/** Whether a token still works: revoked wins over expired. */
export function tokenState(token: { revokedAt: string | null; expiresAt: string | null }, now: number): { id: 'active' | 'expired' | 'revoked'; label: string; tone: Tone; title?: string } {
  if (token.revokedAt) return { id: 'revoked', label: 'Revoked', tone: 'danger', title: `Revoked ${absoluteTime(token.revokedAt)}` };
  if (token.expiresAt && Date.parse(token.expiresAt) <= now) return { id: 'expired', label: 'Expired', tone: 'neutral', title: `Expired ${absoluteTime(token.expiresAt)}` };
  return { id: 'active', label: 'Active', tone: 'ok' };
}
