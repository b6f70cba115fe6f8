// Durations as every Passthru process reads them from its settings: the agent's --heartbeat 10s
// and the server's PASSTHRU_OPERATION_TIMEOUT=60s are written the same way and read here.

/** How a duration is written, for help texts and error messages. */
export const DURATION_SYNTAX = '500ms, 10s, 5m, 1h, 1m30s, or a bare number of seconds';

const UNIT_MS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 };

export class DurationError extends Error {
  override name = 'DurationError';
}

/**
 * Milliseconds in `text`: `500ms`, `10s`, `5m`, `1h`, `1m30s`; a bare number is seconds.
 * `what` names the setting in the error (`--heartbeat`, `PASSTHRU_OPERATION_TIMEOUT`).
 */
export function parseDuration(text: string, what = 'duration'): number {
  const trimmed = text.trim();
  if (/^\d+(\.\d+)?$/.test(trimmed)) return Math.round(Number(trimmed) * 1000);
  const parts = [...trimmed.matchAll(/(\d+(?:\.\d+)?)(ms|s|m|h)/g)];
  if (parts.length === 0 || parts.map((part) => part[0]).join('') !== trimmed) {
    throw new DurationError(`${what} "${text}" is not a duration; write it like 500ms, 10s, 5m or 1h`);
  }
  return Math.round(parts.reduce((sum, [, amount, unit]) => sum + Number(amount) * UNIT_MS[unit!]!, 0));
}
