// Test helpers around fake-virsh.mjs and the real virsh.

import { execFileSync } from 'node:child_process';
import { chmod, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

function findVirsh(): boolean {
  try {
    execFileSync('virsh', ['--version'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

export const virshInstalled = findVirsh();
export const NO_VIRSH = 'virsh is not installed (Debian: libvirt-clients)';

export interface ScriptedAnswer {
  stdout?: string;
  stderr?: string;
  code?: number;
}

export interface FakeVirshCall {
  argv: string[];
  /** Content of each XML file argument, read while the call ran. */
  files: string[];
  lcAll: string | undefined;
}

export interface FakeVirsh {
  binary: string;
  calls(): Promise<FakeVirshCall[]>;
  /** virsh commands (first argument after `-c URI`) in call order. */
  commands(): Promise<string[]>;
  /** Runs a command through the fake, as the backend would, and returns its stdout. */
  run(...args: string[]): string;
  remove(): Promise<void>;
}

/**
 * A virsh binary for the backend: answers from `responses` (by full command, files written as
 * FILE, or by command name), everything else from a stateful libvirt test driver.
 */
export async function fakeVirsh(responses: Record<string, ScriptedAnswer> = {}): Promise<FakeVirsh> {
  const dir = await mkdtemp(join(tmpdir(), 'passthru-virsh-fake-'));
  await writeFile(join(dir, 'responses.json'), JSON.stringify(responses));
  const script = fileURLToPath(new URL('./fake-virsh.mjs', import.meta.url));
  const binary = join(dir, 'virsh');
  await writeFile(binary, `#!/bin/sh\nFAKE_VIRSH_STATE='${dir}' exec '${process.execPath}' '${script}' "$@"\n`);
  await chmod(binary, 0o755);
  const calls = async (): Promise<FakeVirshCall[]> => {
    const log = await readFile(join(dir, 'calls.jsonl'), 'utf8').catch(() => '');
    return log.split('\n').filter(Boolean).map((line) => JSON.parse(line) as FakeVirshCall);
  };
  return {
    binary,
    calls,
    commands: async () => (await calls()).map((call) => call.argv[2]!),
    run: (...args) => execFileSync(binary, ['-c', 'test:///default', ...args], { encoding: 'utf8' }),
    remove: () => rm(dir, { recursive: true, force: true }),
  };
}
