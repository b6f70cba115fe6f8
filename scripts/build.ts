// `npm run build` (every part, --force) and `npm start`'s prestart (only what is missing or
// stale): the server and the agent bundled by esbuild into dist/, run by plain node, and the
// console built by vite into web/dist (web/scripts/ensure-build.ts). Dependencies stay in
// node_modules (`packages: 'external'`): PGlite finds its WebAssembly and argon2 its native
// module there, as they do from the source.
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';
import { bundleAgent } from '../agent/package/bundle.ts';
import { ensureWebBuild } from '../web/scripts/ensure-build.ts';
import { filesUnder, fingerprint } from './fingerprint.ts';

const rootDir = fileURLToPath(new URL('..', import.meta.url));
const distDir = join(rootDir, 'dist');
const stampFile = join(distDir, '.build-fingerprint');

/**
 * Each bundle beside the other in dist/, one folder below the root as its source's entry is,
 * so `new URL('../…', import.meta.url)` finds the same files from both (server/package-root.ts).
 */
export const bundles = {
  server: { entry: 'server/main.ts', output: 'dist/server.mjs' },
};

/** The agent as the .deb carries it: one self-contained file for plain node (agent/package/bundle.ts). */
export const agentBundle = { entry: 'agent/main.ts', output: 'dist/passthru-agent.mjs' };

function sourcesFingerprint(): string {
  const settings = ['package-lock.json', 'tsconfig.json', 'scripts/build.ts'].map((file) => join(rootDir, file));
  return fingerprint(rootDir, [...['server', 'agent', 'protocol'].flatMap((dir) => filesUnder(join(rootDir, dir))), ...settings]);
}

export function bundlesAreCurrent(): boolean {
  const built = [...Object.values(bundles), agentBundle].every(({ output }) => existsSync(join(rootDir, output)));
  return built && existsSync(stampFile) && readFileSync(stampFile, 'utf8').trim() === sourcesFingerprint();
}

/** Bundles the server and the agent unless dist/ holds bundles of exactly the current sources; returns whether it built. */
export async function ensureBundles(options: { force?: boolean } = {}): Promise<boolean> {
  if (!options.force && bundlesAreCurrent()) return false;
  const sources = sourcesFingerprint();
  mkdirSync(distDir, { recursive: true });
  for (const { entry, output } of Object.values(bundles)) {
    await build({
      entryPoints: [join(rootDir, entry)],
      outfile: join(rootDir, output),
      bundle: true,
      platform: 'node',
      format: 'esm',
      target: 'node20',
      packages: 'external',
      // Stack traces name the TypeScript lines when node runs with --enable-source-maps.
      sourcemap: true,
      logLevel: 'warning',
    });
  }
  await bundleAgent(join(rootDir, agentBundle.entry), join(rootDir, agentBundle.output));
  writeFileSync(stampFile, `${sources}\n`);
  return true;
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const force = process.argv.includes('--force');
  try {
    const bundled = await ensureBundles({ force });
    const consoleBuilt = ensureWebBuild({ force });
    console.log(
      `build: server and agent ${bundled ? 'bundled into dist/' : 'in dist/ are up to date'}, console ${consoleBuilt ? 'built into web/dist/' : 'in web/dist/ is up to date'}`,
    );
  } catch (error) {
    console.error(`build: ${error instanceof Error ? error.message : String(error)}`);
    process.exit(1);
  }
}
