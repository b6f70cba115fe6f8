import { spawnSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { repoRoot } from '../../bench/support/processes.ts';

const unit = 'deploy/passthru-server.service';
const analyze = spawnSync('systemd-analyze', ['--version']).status === 0;

describe.skipIf(!analyze)('the server’s systemd unit', () => {
  it('is a valid unit', () => {
    const run = spawnSync('systemd-analyze', ['verify', unit], { cwd: repoRoot, encoding: 'utf8' });
    expect(run.stderr).toBe('');
    expect(run.status).toBe(0);
  });

  it('is hardened: systemd-analyze security rates its exposure 2.0 or lower', () => {
    // --threshold is in tenths of the exposure level; above it the command fails.
    const run = spawnSync('systemd-analyze', ['security', '--offline=yes', '--threshold=20', unit], { cwd: repoRoot, encoding: 'utf8' });
    expect(run.stdout).toMatch(/Overall exposure level for passthru-server\.service: [0-2]\.\d/);
    expect(run.status).toBe(0);
  });
});
