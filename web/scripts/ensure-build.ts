// Builds the console into web/dist unless the build there was made from exactly the current
// sources. Used by `npm start` (prestart) and by the browser tests' global setup, so neither a
// fresh clone nor an edited source ever serves a missing or stale console. The fingerprint is a
// hash of the inputs (not mtimes), so a git checkout that only touches timestamps costs nothing.
import { createHash } from 'node:crypto';
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const webDir = fileURLToPath(new URL('..', import.meta.url));
const rootDir = join(webDir, '..');
const distDir = join(webDir, 'dist');
const stampFile = join(distDir, '.build-fingerprint');

function filesUnder(dir: string): string[] {
  const out: string[] = [];
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    if (entry.name === 'dist' || entry.name === 'node_modules' || entry.name.startsWith('.')) continue;
    const path = join(dir, entry.name);
    if (entry.isDirectory()) out.push(...filesUnder(path));
    // Tests are not part of the bundle; editing one must not force a rebuild.
    else if (!/\.test\.ts$/.test(entry.name)) out.push(path);
  }
  return out;
}

export function webFingerprint(): string {
  const hash = createHash('sha256');
  // schema.graphql too: the bundle carries its introspection for the normalized cache.
  const inputs = [...filesUnder(webDir), join(rootDir, 'package-lock.json'), join(rootDir, 'schema.graphql')].sort();
  for (const file of inputs) {
    if (!existsSync(file)) continue;
    hash.update(relative(rootDir, file)).update('\0').update(readFileSync(file)).update('\0');
  }
  return hash.digest('hex');
}

export function webBuildIsCurrent(): boolean {
  return existsSync(join(distDir, 'index.html')) && existsSync(stampFile) && readFileSync(stampFile, 'utf8').trim() === webFingerprint();
}

/** Builds web/dist if it is missing or was built from other sources; returns whether it built. */
export function ensureWebBuild(options: { quiet?: boolean; force?: boolean } = {}): boolean {
  if (!options.force && webBuildIsCurrent()) return false;
  const fingerprint = webFingerprint();
  const vite = join(rootDir, 'node_modules', 'vite', 'bin', 'vite.js');
  if (!existsSync(vite)) {
    throw new Error('vite is not installed, so the web console cannot be built: run `npm install` (it is a devDependency)');
  }
  const result = spawnSync(process.execPath, [vite, 'build', '--config', join(webDir, 'vite.config.ts'), ...(options.quiet ? ['--logLevel', 'warn'] : [])], {
    cwd: rootDir,
    stdio: 'inherit',
  });
  if (result.status !== 0) throw new Error(`building the web console failed (vite exited with ${result.status ?? result.signal})`);
  writeFileSync(stampFile, `${fingerprint}\n`);
  return true;
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const built = ensureWebBuild({ force: process.argv.includes('--force') });
  if (!built) console.log('web console: web/dist is up to date');
}
