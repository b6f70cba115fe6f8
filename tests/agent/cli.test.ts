import { execFile } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, describe, expect, it } from 'vitest';
import { DEFAULT_SIM_CONFIG, SimBackend } from '../../agent/backends/sim/index.ts';
import { OPTIONS, parseCommand, UsageError } from '../../agent/cli.ts';
import { parseDuration } from '../../protocol/duration.ts';
import { repoRoot, tempDir } from './support.ts';

const run = promisify(execFile);

/** Runs the installed command (the bin launcher), as `passthru-agent ...`. */
async function passthruAgent(args: string[], env: NodeJS.ProcessEnv = {}) {
  try {
    const { stdout, stderr } = await run(process.execPath, [join(repoRoot, 'agent/bin/passthru-agent.mjs'), ...args], {
      cwd: repoRoot,
      env: { PATH: process.env.PATH, ...env },
    });
    return { code: 0, stdout, stderr };
  } catch (error) {
    const failed = error as { code: number; stdout: string; stderr: string };
    return { code: failed.code, stdout: failed.stdout, stderr: failed.stderr };
  }
}

const dir = tempDir('passthru-cli-');
afterAll(() => dir.remove());

describe('option parsing', () => {
  it('takes every option from its flag, else its environment variable, else the default', () => {
    const fromEnv = parseCommand([], {
      PASSTHRU_SERVER: 'https://passthru.example.com',
      PASSTHRU_TOKEN: 'pth_host_abc',
      PASSTHRU_BACKEND: 'sim',
      PASSTHRU_HEARTBEAT: '2s',
      PASSTHRU_RESYNC: '1m30s',
      PASSTHRU_LIBVIRT_URI: 'test:///default',
    });
    expect(fromEnv).toMatchObject({
      command: 'run',
      server: 'https://passthru.example.com',
      token: 'pth_host_abc',
      backend: 'sim',
      heartbeatMs: 2_000,
      resyncMs: 90_000,
      libvirtUri: 'test:///default',
      sysfs: '/sys',
      logLevel: 'info',
      graceMs: 10_000,
    });
    const flagsWin = parseCommand(['--server', 'http://10.0.0.1:4000', '--heartbeat', '500ms', '--backend', 'linux', '--sysfs', '/tmp/sys'], {
      PASSTHRU_SERVER: 'https://ignored.example.com',
      PASSTHRU_TOKEN: 'pth_host_abc',
      PASSTHRU_BACKEND: 'sim',
    });
    expect(flagsWin).toMatchObject({ server: 'http://10.0.0.1:4000', heartbeatMs: 500, backend: 'linux', sysfs: '/tmp/sys' });
  });

  it('reads the token from a file', () => {
    const file = join(dir.path, 'token');
    writeFileSync(file, 'pth_host_from_file\n');
    expect(parseCommand(['--server', 'http://x:1', '--token-file', file])).toMatchObject({ token: 'pth_host_from_file' });
    expect(parseCommand(['--server', 'http://x:1'], { PASSTHRU_TOKEN_FILE: file })).toMatchObject({ token: 'pth_host_from_file' });
    expect(() => parseCommand(['--server', 'http://x:1', '--token-file', join(dir.path, 'absent')])).toThrow(/cannot read the token file/);
  });

  it('refuses bad input with a message saying what to do', () => {
    const env = { PASSTHRU_SERVER: 'http://x:1', PASSTHRU_TOKEN: 't' };
    expect(() => parseCommand([], { PASSTHRU_TOKEN: 't' })).toThrow('no server: pass --server URL or set PASSTHRU_SERVER');
    expect(() => parseCommand([], { PASSTHRU_SERVER: 'http://x:1' })).toThrow(/no host token/);
    expect(() => parseCommand(['--backend', 'xen'], env)).toThrow('--backend must be linux or sim, got "xen"');
    expect(() => parseCommand(['--heartbeat', 'soon'], env)).toThrow(/"soon" is not a duration/);
    expect(() => parseCommand(['--server', 'ftp://x'], env)).toThrow(/http\(s\):\/\/ or ws\(s\):\/\//);
    expect(() => parseCommand(['--sim-control', '0'], env)).toThrow('--sim-control needs --backend sim');
    expect(() => parseCommand(['inventory', '--server', 'http://x:1'])).toThrow('--server does not apply to inventory');
    expect(() => parseCommand(['frobnicate'])).toThrow(UsageError);
  });

  it('parses durations', () => {
    expect(['250ms', '10s', '5m', '1h', '1m30s', '2', '0.5'].map((d) => parseDuration(d))).toEqual([250, 10_000, 300_000, 3_600_000, 90_000, 2_000, 500]);
  });
});

describe('passthru-agent', () => {
  it('--help documents every option with its environment variable', async () => {
    const { code, stdout } = await passthruAgent(['--help']);
    expect(code).toBe(0);
    expect(stdout).toMatch(/^passthru-agent: the Passthru host agent/);
    expect(stdout).toContain('passthru-agent inventory [--backend linux|sim] [--sysfs DIR] [--json]');
    for (const option of OPTIONS) {
      const line = stdout.split('\n').find((l) => l.includes(`--${option.name}`) && (option.env ? l.includes(option.env) : true));
      expect(line, `--${option.name}`).toBeDefined();
    }
    for (const env of ['PASSTHRU_SERVER', 'PASSTHRU_TOKEN', 'PASSTHRU_BACKEND', 'PASSTHRU_SYSFS', 'PASSTHRU_LIBVIRT_URI', 'PASSTHRU_HEARTBEAT', 'PASSTHRU_RESYNC', 'PASSTHRU_LOG_LEVEL']) {
      expect(stdout).toContain(env);
    }
    expect(stdout).toContain('Exit status: 0 stopped cleanly, 1 runtime error, 2 bad usage, 3 the server refused the token.');
  });

  it('inventory --backend sim --json prints what the agent would report, without a server', async () => {
    const { code, stdout } = await passthruAgent(['inventory', '--backend', 'sim', '--json']);
    expect(code).toBe(0);
    const expected = new SimBackend({ ...DEFAULT_SIM_CONFIG, latencyMs: 0 });
    expect(JSON.parse(stdout)).toEqual({ facts: await expected.facts(), devices: await expected.inventory(), vms: [] });
    expect(JSON.parse(stdout).devices.map((d: { address: string; kind: string; productName: string }) => [d.address, d.kind, d.productName])).toEqual([
      ['0000:01:00.0', 'NVME', 'NVMe SSD Controller PM9A1/PM9A3/980PRO'],
      ['0000:17:00.0', 'GPU', 'GA102 [GeForce RTX 3090]'],
      ['0000:17:00.1', 'PCI', 'GA102 High Definition Audio Controller'],
      ['0000:7f:00.0', 'GPU', 'GA102 [GeForce RTX 3090]'],
      ['0000:7f:00.1', 'PCI', 'GA102 High Definition Audio Controller'],
      ['1-1', 'USB', 'Unifying Receiver'],
    ]);
  });

  it('inventory prints a readable table, here of a host described by --sim-config', async () => {
    const config = join(dir.path, 'a100.json');
    writeFileSync(config, JSON.stringify({ name: 'gpu-node-2', cpuCores: 64, memoryMb: 524288, gpus: [{ model: 'a100-80g', count: 2 }], nvme: [{ model: 'intel-p5510' }] }));
    const { code, stdout } = await passthruAgent(['inventory'], { PASSTHRU_BACKEND: 'sim', PASSTHRU_SIM_CONFIG: config });
    expect(code).toBe(0);
    const lines = stdout.trimEnd().split('\n');
    expect(lines[0]).toBe('Host: 64 CPUs, 512 GiB memory, IOMMU on');
    expect(lines[1]).toBe('3 devices');
    expect(lines[3]).toMatch(/^ADDRESS\s+KIND\s+ID\s+DRIVER\s+IOMMU\s+NUMA\s+SERIAL\s+NAME$/);
    expect(lines[4]).toMatch(/^0000:01:00\.0\s+NVME\s+8086:0b60\s+nvme\s+22\s+0\s+PHAB[0-9A-Z]{14}\s+Intel Corporation NVMe DC SSD \[3DNAND, Sentinel Rock Controller\]$/);
    expect(lines[5]).toMatch(/^0000:17:00\.0\s+GPU\s+10de:20b5\s+nvidia\s+20\s+0\s+-\s+NVIDIA Corporation GA100 \[A100 PCIe 80GB\]$/);
  });

  it('exits 2 on bad usage and on a bad sim config, saying why', async () => {
    const missing = await passthruAgent(['--backend', 'sim']);
    expect(missing.code).toBe(2);
    expect(missing.stderr).toContain('passthru-agent: no server: pass --server URL or set PASSTHRU_SERVER');
    expect(missing.stderr).toContain('Try passthru-agent --help');

    const config = join(dir.path, 'bad.json');
    writeFileSync(config, JSON.stringify({ gpus: [{ model: 'voodoo2' }] }));
    const bad = await passthruAgent(['inventory', '--backend', 'sim', '--sim-config', config]);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain('sim config: gpus[0].model must be one of');
  });
});
