// Runs the installed `passthru` command (the package's bin launcher) as a child process, the way
// an operator or a script runs it, against a real test server.

import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export const repoRoot = new URL('../../', import.meta.url).pathname;
const bin = join(repoRoot, 'cli/bin/passthru.mjs');

export interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** A home for the CLI's config file, removed by `remove()`. */
export function tempHome() {
  const path = mkdtempSync(join(tmpdir(), 'passthru-cli-'));
  return { path, configFile: join(path, 'passthru', 'config.json'), remove: () => rmSync(path, { recursive: true, force: true }) };
}

/** Only what the CLI reads: no token or server leaks in from the developer's environment. */
function cleanEnv(env: NodeJS.ProcessEnv): NodeJS.ProcessEnv {
  return { PATH: process.env.PATH, ...env };
}

export function start(args: string[], env: NodeJS.ProcessEnv = {}): ChildProcess {
  return spawn(process.execPath, [bin, ...args], { cwd: repoRoot, env: cleanEnv(env), stdio: ['pipe', 'pipe', 'pipe'] });
}

/** Runs `passthru ...args` to its end; `stdin` is written and closed. */
export async function passthru(args: string[], env: NodeJS.ProcessEnv = {}, stdin = ''): Promise<Run> {
  const child = start(args, env);
  let stdout = '';
  let stderr = '';
  child.stdout!.on('data', (chunk) => (stdout += chunk));
  child.stderr!.on('data', (chunk) => (stderr += chunk));
  child.stdin!.end(stdin);
  const code = await new Promise<number | null>((resolve) => child.once('close', resolve));
  return { code, stdout, stderr };
}

/** Resolves once the child's stream holds a line passing `match`. */
export function lineOn(stream: NodeJS.ReadableStream, match: (line: string) => boolean, timeoutMs = 20_000): Promise<string> {
  return new Promise((resolve, reject) => {
    let buffered = '';
    const timer = setTimeout(() => {
      stream.off('data', onData);
      reject(new Error(`no matching line within ${timeoutMs} ms; got:\n${buffered}`));
    }, timeoutMs);
    const onData = (chunk: Buffer | string) => {
      buffered += chunk.toString();
      const line = buffered.split('\n').find(match);
      if (line === undefined) return;
      clearTimeout(timer);
      stream.off('data', onData);
      resolve(line);
    };
    stream.on('data', onData);
  });
}
