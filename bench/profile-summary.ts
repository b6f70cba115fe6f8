// Where a server's CPU time went: the top functions and files by self time in a V8 CPU
// profile, as written by `--cpu-prof` (bench/fanout.ts and bench/agents.ts take --cpu-prof).
//
//   npx tsx bench/profile-summary.ts /tmp/passthru-fanout-…/profile/CPU.….cpuprofile [top]
import { readFileSync } from 'node:fs';
import { relative } from 'node:path';
import { repoRoot } from './support/processes.ts';
import { table } from './support/stats.ts';

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  hitCount?: number;
}
interface Profile {
  nodes: ProfileNode[];
  startTime: number;
  endTime: number;
  samples: number[];
}

const [file, topArg] = process.argv.slice(2);
if (!file) throw new Error('usage: npx tsx bench/profile-summary.ts FILE.cpuprofile [top]');
const top = Number(topArg ?? 25);
const profile: Profile = JSON.parse(readFileSync(file, 'utf8'));
const totalSamples = profile.samples.length;
const durationS = (profile.endTime - profile.startTime) / 1e6;

/** node_modules/<package> or the path inside the repository, so time groups by library. */
function where(url: string): string {
  if (!url) return '(V8: GC, native, program)';
  const path = url.replace(/^file:\/\//, '');
  const module = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(path);
  if (module) return module[1]!;
  if (path.startsWith('node:')) return path;
  return relative(repoRoot, path);
}

const byFunction = new Map<string, number>();
const byPlace = new Map<string, number>();
let idle = 0;
for (const node of profile.nodes) {
  const hits = node.hitCount ?? 0;
  if (node.callFrame.functionName === '(idle)') idle += hits;
  if (hits === 0 || node.callFrame.functionName === '(idle)') continue;
  const { functionName, url, lineNumber } = node.callFrame;
  const place = where(url);
  const name = `${functionName || '(anonymous)'} ${place}${url ? `:${lineNumber + 1}` : ''}`;
  byFunction.set(name, (byFunction.get(name) ?? 0) + hits);
  byPlace.set(place, (byPlace.get(place) ?? 0) + hits);
}
const busy = totalSamples - idle;
const share = (hits: number) => `${((100 * hits) / Math.max(1, busy)).toFixed(1)} %`;

console.log(`${file}\n${durationS.toFixed(1)} s profiled, busy ${((100 * busy) / Math.max(1, totalSamples)).toFixed(0)} % of samples; shares below are of busy time\n`);
const rank = (map: Map<string, number>) => [...map].sort((a, b) => b[1] - a[1]).slice(0, top);
console.log(table(['self time by package or file', 'share'], rank(byPlace).map(([place, hits]) => [place, share(hits)])));
console.log();
console.log(table(['self time by function', 'share'], rank(byFunction).map(([name, hits]) => [name, share(hits)])));
