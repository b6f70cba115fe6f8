// A Jepsen-style fault-injection run (issue 11):
//   npm run chaos -- [--duration 60s] [--clients 8] [--agents 3] [--seed N] [--dir PATH]
// Two server processes and N sim agents on a PostgreSQL instance of its own, C clients with a
// recorded history, a subscriber per server, and a nemesis that kill -9s servers, agents and the
// database and pauses agents; then heal, settle and check. Exits 1 if any invariant is violated.

import { formatSummary, formatViolations, runChaos } from './chaos.ts';

function arg(name: string): string | undefined {
  const argv = process.argv.slice(2);
  for (let i = 0; i < argv.length; i++) {
    if (argv[i] === `--${name}`) return argv[i + 1];
    if (argv[i]!.startsWith(`--${name}=`)) return argv[i]!.slice(name.length + 3);
  }
  return undefined;
}

/** `90`, `90s`, `2m`, `1500ms` -> milliseconds. */
function duration(raw: string): number {
  const match = /^(\d+(?:\.\d+)?)(ms|s|m)?$/.exec(raw.trim());
  if (!match) throw new Error(`--duration must look like 60s, 2m or 1500ms, got "${raw}"`);
  const value = Number(match[1]);
  return match[2] === 'ms' ? value : match[2] === 'm' ? value * 60_000 : value * 1000;
}

function positiveInt(name: string, fallback: number): number {
  const raw = arg(name);
  if (raw === undefined) return fallback;
  const value = Number(raw);
  if (!Number.isInteger(value) || value < 1) throw new Error(`--${name} must be a positive integer, got "${raw}"`);
  return value;
}

const result = await runChaos({
  durationMs: duration(arg('duration') ?? '60s'),
  clients: positiveInt('clients', 8),
  agents: positiveInt('agents', 3),
  seed: positiveInt('seed', Math.floor(Math.random() * 1_000_000) + 1),
  ...(arg('dir') ? { dir: arg('dir')! } : {}),
});
process.stdout.write(`\n${formatSummary(result)}`);
if (!result.ok) process.stdout.write(`\n${formatViolations(result)}\n`);
process.exit(result.ok ? 0 : 1);
