// What the modules may import. The server ships without the agent (what both speak is in
// protocol/). A module in a cycle may run before what it imports has finished loading, and a
// cycle is modules that cannot be understood one without the other: imports go one way only.
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import ts from 'typescript';
import { describe, expect, it } from 'vitest';
import { repoRoot } from '../../bench/support/processes.ts';

function sourcesUnder(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) return entry.name === 'node_modules' ? [] : sourcesUnder(path);
    return /\.ts$/.test(entry.name) && !entry.name.endsWith('.d.ts') ? [path] : [];
  });
}

/** Every relative module a file names: static imports and re-exports (type-only ones too) and dynamic `import()`. */
function specifiersOf(file: string): string[] {
  const source = ts.createSourceFile(file, readFileSync(file, 'utf8'), ts.ScriptTarget.Latest, false, ts.ScriptKind.TS);
  const found: string[] = [];
  const visit = (node: ts.Node) => {
    if ((ts.isImportDeclaration(node) || ts.isExportDeclaration(node)) && node.moduleSpecifier && ts.isStringLiteral(node.moduleSpecifier)) {
      found.push(node.moduleSpecifier.text);
    } else if (ts.isCallExpression(node) && node.expression.kind === ts.SyntaxKind.ImportKeyword) {
      const [argument] = node.arguments;
      if (argument && ts.isStringLiteral(argument)) found.push(argument.text);
    }
    ts.forEachChild(node, visit);
  };
  visit(source);
  return found.filter((specifier) => specifier.startsWith('.'));
}

function resolveModule(from: string, specifier: string): string | null {
  const base = resolve(dirname(from), specifier);
  return [base, base.replace(/\.js$/, '.ts'), `${base}.ts`, join(base, 'index.ts')].find((candidate) => candidate.endsWith('.ts') && existsSync(candidate)) ?? null;
}

const importsOf = (file: string) => specifiersOf(file).flatMap((specifier) => resolveModule(file, specifier) ?? []);

/**
 * Import cycles among the TypeScript modules under `dirs` (relative to the repository), each as
 * the paths around it ("a.ts -> b.ts -> a.ts"), type-only imports included: one for each import
 * a depth-first walk finds closing a loop, so none means there is no cycle at all.
 */
function importCycles(dirs: string[]): string[] {
  const files = dirs.flatMap((dir) => sourcesUnder(join(repoRoot, dir)));
  const inScope = new Set(files);
  const imports = new Map(files.map((file) => [file, importsOf(file).filter((target) => inScope.has(target))]));
  const cycles: string[] = [];
  const state = new Map<string, 'open' | 'done'>();
  const path: string[] = [];
  const walk = (file: string) => {
    state.set(file, 'open');
    path.push(file);
    for (const target of imports.get(file) ?? []) {
      if (state.get(target) === 'open') {
        const loop = [...path.slice(path.indexOf(target)), target];
        cycles.push(loop.map((member) => relative(repoRoot, member)).join(' -> '));
      } else if (!state.has(target)) walk(target);
    }
    path.pop();
    state.set(file, 'done');
  };
  for (const file of files) if (!state.has(file)) walk(file);
  return cycles;
}

describe('module imports', () => {
  it('the production server imports no agent code', () => {
    const agentDir = join(repoRoot, 'agent');
    const reached = sourcesUnder(join(repoRoot, 'server')).flatMap((file) =>
      importsOf(file).filter((target) => target.startsWith(`${agentDir}/`)).map((target) => `${relative(repoRoot, file)} -> ${relative(repoRoot, target)}`),
    );
    expect(reached).toEqual([]);
  });

  it("the server's modules import without cycles", () => {
    expect(importCycles(['server'])).toEqual([]);
  });

  it("the agent's and the protocol's modules import without cycles", () => {
    expect(importCycles(['agent', 'protocol'])).toEqual([]);
  });
});
