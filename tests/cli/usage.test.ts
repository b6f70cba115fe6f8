import { execFile } from 'node:child_process';
import { createServer } from 'node:net';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { EXIT, EXIT_BY_ERROR } from '../../cli/exit-codes.ts';
import { passthru } from './support.ts';

const run = promisify(execFile);
const noToken = { PASSTHRU_TOKEN: 'pth_unused', XDG_CONFIG_HOME: '/nonexistent' };

describe('exit statuses', () => {
  it('an unknown command or option is a usage error (2) naming what is wrong', async () => {
    const command = await passthru(['detonate'], noToken);
    expect(command.code).toBe(EXIT.usage);
    expect(command.stderr).toMatch(/^passthru: unknown command "detonate"; the commands are: login, /);
    const option = await passthru(['hosts', '--kind', 'GPU'], noToken);
    expect(option.code).toBe(EXIT.usage);
    expect(option.stderr).toBe('passthru: passthru hosts does not take --kind; see passthru hosts --help\n');
  });

  it('a server that cannot be reached exits with status 7', async () => {
    // A port that was just free: nothing listens on it.
    const probe = createServer().listen(0, '127.0.0.1');
    await new Promise((resolve) => probe.once('listening', resolve));
    const address = probe.address();
    const port = typeof address === 'object' && address ? address.port : 0;
    await new Promise((resolve) => probe.close(resolve));
    const result = await passthru(['hosts', '--server', `http://127.0.0.1:${port}`], noToken);
    expect(result.code).toBe(EXIT.unreachable);
    expect(result.stderr).toBe(`passthru: cannot reach the Passthru server at http://127.0.0.1:${port}: connect ECONNREFUSED 127.0.0.1:${port}\n`);
  });

  it('--help documents every exit status, and refusals map only to the refusal statuses (2 to 6)', async () => {
    const help = await passthru(['--help'], {});
    expect(help.code).toBe(EXIT.ok);
    for (const code of Object.values(EXIT)) expect(help.stdout).toMatch(new RegExp(`^ +${code}  \\S`, 'm'));
    expect(new Set(Object.values(EXIT_BY_ERROR))).toEqual(new Set([EXIT.usage, EXIT.auth, EXIT.notFound, EXIT.conflict, EXIT.unavailable]));
  });
});

describe('shell completion', () => {
  it('completion bash is a script bash loads, completing commands, options and enum values', async () => {
    const { code, stdout } = await passthru(['completion', 'bash'], {});
    expect(code).toBe(EXIT.ok);
    const complete = async (line: string) => {
      const words = line.split(' ');
      const script = `${stdout}\nCOMP_WORDS=(${words.map((w) => `'${w}'`).join(' ')}); COMP_CWORD=${words.length - 1}; _passthru; printf '%s\\n' "\${COMPREPLY[@]}"`;
      return (await run('bash', ['-c', script])).stdout.trim().split('\n');
    };
    expect(await complete('passthru de')).toEqual(['devices', 'detach', 'delete']);
    expect(await complete('passthru devices --k')).toEqual(['--kind']);
    expect(await complete('passthru devices --kind ')).toEqual(['GPU', 'USB', 'NVME', 'PCI']);
    expect(await complete('passthru ops --status F')).toEqual(['FAILED']);
    expect(await complete('passthru watch ')).toEqual(expect.arrayContaining(['devices', 'ops', 'vms', 'hosts', '--host']));
  });

  it('completion zsh defines _passthru for every command', async () => {
    const { code, stdout } = await passthru(['completion', 'zsh'], {});
    expect(code).toBe(EXIT.ok);
    expect(stdout.startsWith('#compdef passthru\n')).toBe(true);
    for (const command of ['login', 'devices', 'detach', 'watch', 'completion']) expect(stdout).toMatch(new RegExp(`^    ${command}\\) _arguments `, 'm'));
    expect(stdout).toContain("'--kind[Only this kind\\: GPU, USB, NVME, PCI.]:KIND:(GPU USB NVME PCI)'");
  });

  it('an unknown shell is a usage error', async () => {
    const result = await passthru(['completion', 'fish'], {});
    expect(result.code).toBe(EXIT.usage);
  });
});
