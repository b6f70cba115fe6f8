import { createHash } from 'node:crypto';
import { existsSync, readdirSync, readFileSync, renameSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TestProject } from 'vitest/node';
import { openDatabase } from '../../server/db/client.ts';

declare module 'vitest' {
  export interface ProvidedContext {
    pgliteTemplate: string;
  }
}

const migrationsDir = new URL('../../migrations', import.meta.url).pathname;

/** A hash of every migration, so the template is rebuilt exactly when the schema changes. */
function migrationsHash() {
  const hash = createHash('sha256');
  for (const dir of readdirSync(migrationsDir).sort()) {
    hash.update(dir);
    hash.update(readFileSync(join(migrationsDir, dir, 'migration.sql')));
  }
  return hash.digest('hex').slice(0, 16);
}

/**
 * Creating a PGlite database and migrating it takes seconds; copying a migrated one takes a
 * fraction of that. Every test file starts from a copy of this template.
 */
export default async function setup(project: TestProject) {
  const template = join(tmpdir(), `passthru-pglite-template-${migrationsHash()}`);
  if (!existsSync(template)) {
    const building = `${template}.${process.pid}`;
    rmSync(building, { recursive: true, force: true });
    const database = await openDatabase({ databaseUrl: undefined, dataDir: building });
    await database.close();
    renameSync(building, template);
  }
  project.provide('pgliteTemplate', template);
}
