// The agent as one JavaScript file for plain node: agent/main.ts and its dependencies (pino,
// ws, graphql-ws, graphql) bundled by esbuild, no tsx and no node_modules at run time.

import { chmod } from 'node:fs/promises';
import { build } from 'esbuild';

/** The oldest Node the bundle runs on: Debian 12's own nodejs package. The .deb depends on it. */
export const MINIMUM_NODE_MAJOR = 18;

/** Bundles the agent into `outfile` (an ES module with a `#!/usr/bin/env node` line). */
export async function bundleAgent(entryPoint: string, outfile: string): Promise<void> {
  await build({
    entryPoints: [entryPoint],
    outfile,
    bundle: true,
    platform: 'node',
    format: 'esm',
    // Syntax newer than Node 18 understands is lowered; APIs are not, so the agent's code path
    // uses none newer than Node 18 (the package test runs the bundle on Debian 12's Node 18).
    target: `node${MINIMUM_NODE_MAJOR}`,
    // Not minified: an error's stack in the journal should name the agent's own functions.
    minify: false,
    legalComments: 'eof',
    logLevel: 'warning',
    banner: {
      // The CommonJS dependencies (pino, ws) call require() for Node's built-in modules, which
      // an ES module does not have.
      js: [
        '#!/usr/bin/env node',
        "import { createRequire as __passthruCreateRequire } from 'node:module';",
        'const require = __passthruCreateRequire(import.meta.url);',
      ].join('\n'),
    },
  });
  // Runnable as `./dist/passthru-agent.mjs`, through its #! line.
  await chmod(outfile, 0o755);
}
