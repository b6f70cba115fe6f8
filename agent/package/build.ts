// `npm run package:agent [-- --out DIR]`: the agent as dist/passthru-agent.mjs (one file for
// plain node) and dist/passthru-agent_<version>_all.deb around it.

import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import packageJson from '../../package.json' with { type: 'json' };
import { bundleAgent } from './bundle.ts';
import { buildDeb } from './deb.ts';

const { values } = parseArgs({ options: { out: { type: 'string', default: 'dist' } } });
const outDir = resolve(values.out);
const bundle = join(outDir, 'passthru-agent.mjs');

await bundleAgent(new URL('../main.ts', import.meta.url).pathname, bundle);
const deb = await buildDeb({ bundle, version: packageJson.version, outDir });
process.stdout.write(`${bundle}\n${deb}\n`);
