import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { expect, it } from 'vitest';

const root = fileURLToPath(new URL('../..', import.meta.url));

it('protocol/graphql-env.d.ts (the GraphQL types of every client) matches schema.graphql; run `npm run schema:types` after a schema change', () => {
  const dir = mkdtempSync(join(tmpdir(), 'passthru-tada-'));
  try {
    const output = join(dir, 'graphql-env.d.ts');
    const cli = join(root, 'node_modules', 'gql.tada', 'bin', 'cli.js');
    const result = spawnSync(process.execPath, [cli, 'generate-output', '--tsconfig', join(root, 'tsconfig.json'), '--output', output], { cwd: root, encoding: 'utf8' });
    expect(result.status, result.stderr).toBe(0);
    expect(readFileSync(output, 'utf8')).toBe(readFileSync(join(root, 'protocol', 'graphql-env.d.ts'), 'utf8'));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
