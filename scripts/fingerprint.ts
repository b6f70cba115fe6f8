// A build's fingerprint: a hash of its inputs' paths and contents (not mtimes, so a git
// checkout that only touches timestamps costs no rebuild). The console's build (web/scripts/
// ensure-build.ts) and the server's and agent's (scripts/build.ts) are stamped with one.
import { createHash } from 'node:crypto';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join, relative } from 'node:path';

/** Every source file under `dir`, leaving out build output, dependencies, hidden files and tests (not part of a bundle). */
export function filesUnder(dir: string): string[] {
  const out: string[] = [];
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    if (entry.name === 'dist' || entry.name === 'node_modules' || entry.name.startsWith('.')) continue;
    const path = join(dir, entry.name);
    if (entry.isDirectory()) out.push(...filesUnder(path));
    else if (!/\.test\.ts$/.test(entry.name)) out.push(path);
  }
  return out;
}

/** The hash of `files` (paths relative to `rootDir`, and contents); a file that does not exist is left out. */
export function fingerprint(rootDir: string, files: string[]): string {
  const hash = createHash('sha256');
  for (const file of [...files].sort()) {
    if (!existsSync(file)) continue;
    hash.update(relative(rootDir, file)).update('\0').update(readFileSync(file)).update('\0');
  }
  return hash.digest('hex');
}
