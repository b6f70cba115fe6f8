// Test helpers around fake-virsh.sh and the real virsh.

import { execFileSync } from 'node:child_process';
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
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
  lcAll: string;
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

const SCRIPT = fileURLToPath(new URL('./fake-virsh.sh', import.meta.url));

/**
 * A virsh for the backend: answers from `responses` (keyed by the command line with file
 * paths written as FILE, or by the command name), everything else from a stateful libvirt
 * test driver.
 */
export async function fakeVirsh(responses: Record<string, ScriptedAnswer> = {}): Promise<FakeVirsh> {
  const dir = await mkdtemp(join(tmpdir(), 'passthru-virsh-fake-'));
  await mkdir(join(dir, 'calls'));
  for (const [key, answer] of Object.entries(responses)) {
    const answerDir = join(dir, 'responses', key);
    await mkdir(answerDir, { recursive: true });
    await writeFile(join(answerDir, 'stdout'), answer.stdout ?? '');
    await writeFile(join(answerDir, 'stderr'), answer.stderr ?? '');
    await writeFile(join(answerDir, 'code'), String(answer.code ?? 0));
  }
  const binary = join(dir, 'virsh');
  await writeFile(binary, `#!/bin/sh\nFAKE_VIRSH_STATE='${dir}' exec /bin/sh '${SCRIPT}' "$@"\n`, { mode: 0o755 });

  const calls = async (): Promise<FakeVirshCall[]> => {
    const callsDir = join(dir, 'calls');
    const numbers = (await readdir(callsDir)).filter((name) => name.endsWith('.argv')).map((name) => name.slice(0, -5)).sort();
    return Promise.all(
      numbers.map(async (number) => {
        const read = (suffix: string) => readFile(join(callsDir, `${number}.${suffix}`), 'utf8');
        const argv = (await read('argv')).split('\0').slice(0, -1);
        const files = await Promise.all(argv.map((_, index) => read(`file-${index - 2}`).catch(() => null)));
        return { argv, files: files.filter((file): file is string => file !== null), lcAll: await read('lc_all') };
      }),
    );
  };
  return {
    binary,
    calls,
    commands: async () => (await calls()).map((call) => call.argv[2]!),
    run: (...args) => execFileSync(binary, ['-c', 'test:///default', ...args], { encoding: 'utf8' }),
    remove: () => rm(dir, { recursive: true, force: true }),
  };
}
