// Builds the console into web/dist unless the build there was made from exactly the current
// sources (scripts/fingerprint.ts). Used by `npm run build` and `npm start` (scripts/build.ts) and
// by the browser tests' global setup, so neither a fresh clone nor an edited source ever serves a
// missing or stale console.
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { filesUnder, fingerprint } from '../../scripts/fingerprint.ts';

const webDir = fileURLToPath(new URL('..', import.meta.url));
const rootDir = join(webDir, '..');
const distDir = join(webDir, 'dist');
const stampFile = join(distDir, '.build-fingerprint');

export function webFingerprint(): string {
  // schema.graphql too: the bundle carries its introspection for the normalized cache; protocol/
  // holds the documents' tag and the rules the console shares with the server.
  return fingerprint(rootDir, [...filesUnder(webDir), ...filesUnder(join(rootDir, 'protocol')), join(rootDir, 'package-lock.json'), join(rootDir, 'schema.graphql')]);
}

export function webBuildIsCurrent(): boolean {
  return existsSync(join(distDir, 'index.html')) && existsSync(stampFile) && readFileSync(stampFile, 'utf8').trim() === webFingerprint();
}

/** Builds web/dist if it is missing or was built from other sources; returns whether it built. */
export function ensureWebBuild(options: { quiet?: boolean; force?: boolean } = {}): boolean {
  if (!options.force && webBuildIsCurrent()) return false;
  const sources = webFingerprint();
  const vite = join(rootDir, 'node_modules', 'vite', 'bin', 'vite.js');
  if (!existsSync(vite)) {
    throw new Error('vite is not installed, so the web console cannot be built: run `npm install` (vite is a devDependency), or run `npm run build` before removing the devDependencies (`npm prune --omit=dev`)');
  }
  const result = spawnSync(process.execPath, [vite, 'build', '--config', join(webDir, 'vite.config.ts'), ...(options.quiet ? ['--logLevel', 'warn'] : [])], {
    cwd: rootDir,
    stdio: 'inherit',
  });
  if (result.status !== 0) throw new Error(`building the web console failed (vite exited with ${result.status ?? result.signal})`);
  writeFileSync(stampFile, `${sources}\n`);
  return true;
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const built = ensureWebBuild({ force: process.argv.includes('--force') });
  if (!built) console.log('web console: web/dist is up to date');
}
