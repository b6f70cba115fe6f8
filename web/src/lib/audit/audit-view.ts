import type { Tone } from '../ui/tones.ts';

/** How an audit entry's outcome reads: OK, or the typename of the error the call was refused with. */
export function outcomeView(outcome: string): { label: string; tone: Tone } {
  if (outcome === 'OK') return { label: 'OK', tone: 'ok' };
  // Refused for who the caller is, or a bug: the ones to look at first.
  if (outcome === 'NotAuthorizedError' || outcome === 'TooManyAttemptsError' || outcome === 'InternalError') return { label: outcome, tone: 'danger' };
  // Refused for what was asked (validation, not found, busy…): expected, still not done.
  return { label: outcome, tone: 'warn' };
}

export type TimeRange = 'all' | '1h' | '24h' | '7d' | 'custom';

export const TIME_RANGES: { id: TimeRange; label: string }[] = [
  { id: 'all', label: 'All time' },
  { id: '1h', label: 'Last hour' },
  { id: '24h', label: 'Last 24 hours' },
  { id: '7d', label: 'Last 7 days' },
  { id: 'custom', label: 'Custom…' },
];

const HOURS: Record<'1h' | '24h' | '7d', number> = { '1h': 1, '24h': 24, '7d': 24 * 7 };

/** A `datetime-local` value (local time, no zone) as an ISO instant; null when empty or invalid. */
export function localToIso(value: string): string | null {
  if (!value) return null;
  const ms = Date.parse(value);
  return Number.isNaN(ms) ? null : new Date(ms).toISOString();
}

/** The auditLog(since, until) arguments of a time range, as of `now`. */
export function rangeArgs(range: TimeRange, now: number, custom: { from: string; to: string }): { since: string | null; until: string | null } {
  if (range === 'all') return { since: null, until: null };
  if (range === 'custom') return { since: localToIso(custom.from), until: localToIso(custom.to) };
  return { since: new Date(now - HOURS[range] * 3_600_000).toISOString(), until: null };
}

/** What a global ID names ("Host", "VM"…) and its raw ID, when it decodes. */
export function decodeGlobalId(id: string): { type: string; raw: string } | null {
  try {
    const text = atob(id);
    const colon = text.indexOf(':');
    if (colon <= 0) return null;
    const type = text.slice(0, colon);
    return /^[A-Za-z]+$/.test(type) ? { type, raw: text.slice(colon + 1) } : null;
  } catch {
    return null;
  }
}

/** The details JSON, indented for reading; as sent when it does not parse. */
export function prettyDetails(details: string): string {
  try {
    return JSON.stringify(JSON.parse(details), null, 2);
  } catch {
    return details;
  }
}

/** The mutation name as words: "createApiToken" → "Create API token". */
export function actionLabel(action: string): string {
  const words = action.replace(/([a-z0-9])([A-Z])/g, '$1 $2').replace(/\bApi\b/g, 'API').replace(/\bVm\b/g, 'VM').toLowerCase();
  const fixed = words.replace(/\bapi\b/g, 'API').replace(/\bvm\b/g, 'VM');
  return fixed.charAt(0).toUpperCase() + fixed.slice(1);
}
