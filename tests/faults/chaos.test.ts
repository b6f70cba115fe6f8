import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { formatSummary, formatViolations, runChaos } from '../../bench/chaos/chaos.ts';
import { FAULT_KINDS } from '../../bench/chaos/nemesis.ts';
import { postgresBin } from './support/postgres-instance.ts';

// The short version of `npm run chaos` (bench/chaos/): two server processes and three sim agents
// on a PostgreSQL of its own, six clients and a subscriber per server, while a nemesis kill -9s
// servers, agents and the database and pauses agents; then every invariant is checked. It needs
// PostgreSQL installed, and runs on its own (PASSTHRU_CHAOS=1, a step of .ci/run after the test
// passes): its five processes beside the other test files would slow those past their timings.
describe.skipIf(!postgresBin() || !process.env.PASSTHRU_CHAOS)('chaos: servers, agents and the database killed under load', () => {
  it(
    'keeps every invariant with every fault kind injected',
    async () => {
      const dir = mkdtempSync(join(tmpdir(), 'passthru-chaos-'));
      const seed = Number(process.env.CHAOS_SEED ?? 11);
      const result = await runChaos({ durationMs: 70_000, clients: 6, agents: 3, seed, dir, log: () => undefined });
      const summary = formatSummary(result);
      process.stdout.write(`\nchaos (seed ${seed}):\n${summary}`);

      // The run itself did what it is for: every fault kind, real traffic, a settled system.
      for (const kind of FAULT_KINDS) expect(result.faults[kind], `fault ${kind} injected`).toBeGreaterThan(0);
      expect(result.requests.success, 'some requests succeeded').toBeGreaterThan(0);
      expect(result.requests.refused, 'some requests were refused').toBeGreaterThan(0);
      expect(result.quiescence.reached, 'no operation left unfinished after the timeouts').toBe(true);

      const violated = result.invariants.filter((invariant) => invariant.violations.length > 0).map((invariant) => invariant.name);
      expect(violated, `${summary}\n${formatViolations(result)}\n(full results in ${dir})`).toEqual([]);
      rmSync(dir, { recursive: true, force: true });
    },
    240_000,
  );
});
