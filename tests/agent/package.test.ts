// The agent as a package: `npm run package:agent` builds one file for plain node and a .deb
// around it. Built here into a temporary directory, then checked as a Debian host gets it: the
// package's fields and files, the unit's hardening, and the packaged bundle run with plain node
// (and Debian 12's own Node 18 when PASSTHRU_TEST_NODE18 names it; .ci/run does).

import { execFile } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { isBuiltin } from 'node:module';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LinuxBackend } from '../../agent/backends/linux/index.ts';
import { DEFAULT_SIM_CONFIG, SimBackend } from '../../agent/backends/sim/index.ts';
import { DEPENDS, INSTALLED_PATHS } from '../../agent/package/deb.ts';
import packageJson from '../../package.json' with { type: 'json' };
import { buildHost, standardHost } from '../agent-linux/fixture-sysfs.ts';
import { eventually } from '../support/client.ts';
import { startTestServer, type TestServer } from '../support/server.ts';
import { hostDevices, Seed } from '../support/seed.ts';
import { AgentProcess, repoRoot, tempDir } from './support.ts';

const run = promisify(execFile);
const out = tempDir('passthru-package-');
const deb = join(out.path, `passthru-agent_${packageJson.version}_all.deb`);
/** The package's files, unpacked as dpkg would install them. */
const installed = join(out.path, 'root');
const installedPath = (path: string) => join(installed, path);

beforeAll(async () => {
  await run('npm', ['run', '--silent', 'package:agent', '--', '--out', out.path], { cwd: repoRoot });
  await run('dpkg-deb', ['--extract', deb, installed]);
}, 120_000);
afterAll(() => out.remove());

async function debField(field: string): Promise<string> {
  return (await run('dpkg-deb', ['--field', deb, field])).stdout.trim();
}

describe('npm run package:agent', () => {
  it('builds dist/passthru-agent.mjs: one file that needs nothing but node', () => {
    const bundle = readFileSync(join(out.path, 'passthru-agent.mjs'), 'utf8');
    // Import statements, and the require() calls of the bundled CommonJS modules.
    const imported = [...bundle.matchAll(/^import\b[^;\n]*?\bfrom\s*["']([^"']+)["']|\b(?:__)?require\(\s*["']([^"']+)["']\s*\)/gm)].map((match) => match[1] ?? match[2]);
    expect(imported.length).toBeGreaterThan(0);
    // ws tries its optional native add-ons inside try/catch and uses its own JavaScript without them.
    expect([...new Set(imported.filter((specifier) => !isBuiltin(specifier ?? '')))].sort()).toEqual(['bufferutil', 'utf-8-validate']);
    expect(bundle.startsWith('#!/usr/bin/env node\n')).toBe(true);
  });

  it('the .deb is named after the version and declares what the agent runs on', async () => {
    expect(existsSync(deb)).toBe(true);
    expect({
      Package: await debField('Package'),
      Version: await debField('Version'),
      Architecture: await debField('Architecture'),
      Depends: await debField('Depends'),
    }).toEqual({
      Package: 'passthru-agent',
      Version: packageJson.version,
      Architecture: 'all',
      Depends: 'nodejs (>= 18), libvirt-clients, hwdata, udev, pciutils',
    });
    expect(DEPENDS.join(', ')).toBe(await debField('Depends'));
  });

  it('the .deb installs the bundle, the command, the unit, the configuration (a conffile) and vfio-pci at boot, all root-owned', async () => {
    const listing = (await run('dpkg-deb', ['--contents', deb])).stdout.trim().split('\n');
    // `-rw-r--r-- root/root  1022 2026-12-03 13:28 ./etc/passthru-agent/agent.env` by installed path.
    const files: Record<string, string> = Object.fromEntries(
      listing.map((line) => line.split(/\s+/)).map((fields) => [(fields[5] ?? '').replace(/^\./, '').replace(/(.)\/$/, '$1'), `${fields[0]} ${fields[1]}`]),
    );
    expect({
      [INSTALLED_PATHS.bundle]: files[INSTALLED_PATHS.bundle],
      [INSTALLED_PATHS.command]: files[INSTALLED_PATHS.command],
      [INSTALLED_PATHS.unit]: files[INSTALLED_PATHS.unit],
      [INSTALLED_PATHS.config]: files[INSTALLED_PATHS.config],
      [INSTALLED_PATHS.modulesLoad]: files[INSTALLED_PATHS.modulesLoad],
      '/etc/passthru-agent': files['/etc/passthru-agent'],
    }).toEqual({
      '/usr/lib/passthru-agent/passthru-agent.mjs': '-rw-r--r-- root/root',
      '/usr/bin/passthru-agent': '-rwxr-xr-x root/root',
      '/usr/lib/systemd/system/passthru-agent.service': '-rw-r--r-- root/root',
      '/etc/passthru-agent/agent.env': '-rw-r--r-- root/root',
      '/usr/lib/modules-load.d/passthru-agent.conf': '-rw-r--r-- root/root',
      // It will hold the host token.
      '/etc/passthru-agent': 'drwx------ root/root',
    });
    expect(Object.values(files).filter((owner) => !owner.endsWith(' root/root'))).toEqual([]);
    const control = join(out.path, 'control');
    await run('dpkg-deb', ['--control', deb, control]);
    expect(readFileSync(join(control, 'conffiles'), 'utf8')).toBe('/etc/passthru-agent/agent.env\n');
    for (const script of ['postinst', 'prerm', 'postrm']) await run('sh', ['-n', join(control, script)]);
    expect(readFileSync(installedPath(INSTALLED_PATHS.modulesLoad), 'utf8')).toMatch(/^vfio-pci$/m);
  });

  it("the unit and the command run the packaged bundle with Debian's node, configured from the conffile", () => {
    const unit = readFileSync(installedPath(INSTALLED_PATHS.unit), 'utf8');
    expect(unit).toMatch(new RegExp(`^ExecStart=/usr/bin/node ${INSTALLED_PATHS.bundle}$`, 'm'));
    expect(unit).toMatch(new RegExp(`^EnvironmentFile=${INSTALLED_PATHS.config}$`, 'm'));
    expect(readFileSync(installedPath(INSTALLED_PATHS.command), 'utf8')).toContain(`exec /usr/bin/node ${INSTALLED_PATHS.bundle} "$@"`);
    expect(readFileSync(installedPath(INSTALLED_PATHS.config), 'utf8')).toMatch(/^PASSTHRU_SERVER=$/m);
  });

  it.skipIf(!existsSync('/usr/bin/systemd-analyze'))('the unit is hardened: systemd-analyze security rates it 5.0 or lower, with no capability and /sys writable', async () => {
    const unitFile = installedPath(INSTALLED_PATHS.unit);
    // Every setting is one systemd knows: a misspelt one would be ignored, silently unhardening the unit.
    expect((await run('systemd-analyze', ['verify', '--man=no', unitFile])).stderr).toBe('');
    const { stdout } = await run('systemd-analyze', ['security', '--offline=true', '--no-pager', unitFile]);
    const exposure = /Overall exposure level for passthru-agent\.service: ([\d.]+)/.exec(stdout);
    expect(Number(exposure?.[1])).toBeLessThanOrEqual(5.0);
    const unit = readFileSync(unitFile, 'utf8');
    // Rebinding drivers needs uid 0 and a writable /sys, nothing more.
    expect(unit).toMatch(/^CapabilityBoundingSet=$/m);
    expect(unit).not.toMatch(/^ProtectKernelTunables=yes/m);
  });
});

const runtimes = [
  { name: `node ${process.version}`, node: process.execPath, major: process.versions.node.split('.')[0] },
  ...(process.env.PASSTHRU_TEST_NODE18 ? [{ name: "Debian 12's node 18", node: process.env.PASSTHRU_TEST_NODE18, major: '18' }] : []),
];

describe.each(runtimes)('the packaged agent on $name', ({ node, major }) => {
  const bundle = () => installedPath(INSTALLED_PATHS.bundle);
  let server: TestServer | null = null;
  afterAll(async () => {
    await server?.stop();
  });

  it('prints its version and runs inventory on a fixture host as the linux backend reads it', async () => {
    // Outside the repository and without virsh on PATH: nothing but the file and node.
    const env = { PATH: '/nonexistent' };
    const version = await run(node, [bundle(), '--version'], { cwd: out.path, env });
    expect(version.stdout).toBe(`passthru-agent ${packageJson.version}\n`);
    expect((await run(node, ['--version'])).stdout).toMatch(new RegExp(`^v${major}\\.`));

    const host = await buildHost(standardHost());
    try {
      const { stdout } = await run(
        node,
        [bundle(), 'inventory', '--json', '--sysfs', host.sysfsRoot, '--procfs', host.procRoot, '--pci-ids', host.idsPaths.pci[0] ?? '', '--usb-ids', host.idsPaths.usb[0] ?? ''],
        { cwd: out.path, env },
      );
      const backend = new LinuxBackend({ sysfsRoot: host.sysfsRoot, procRoot: host.procRoot, idsPaths: host.idsPaths, stateDir: host.stateDir });
      const devices = await backend.inventory();
      expect(devices.map((d) => d.address)).toContain('0000:65:00.0');
      // vms: null, because libvirt (virsh) cannot be reached.
      expect(JSON.parse(stdout)).toEqual({ facts: await backend.facts(), devices, vms: null });
    } finally {
      await host.remove();
    }
  });

  it('connects to the server over graphql-ws and reports its devices', async () => {
    server = await startTestServer();
    const { id: hostId, token } = await new Seed(server.client).cluster().enroll('packaged-agent');
    const dir = tempDir();
    const agent = AgentProcess.sim({ server: server.url, token, config: DEFAULT_SIM_CONFIG, dir: dir.path, launch: [node, bundle()] });
    try {
      const expected = (await new SimBackend(DEFAULT_SIM_CONFIG).inventory()).map((d) => d.address).sort();
      const target = server;
      const reported = await eventually(async () => {
        const addresses = (await hostDevices(target.client, hostId)).map((d) => d.address).sort();
        return addresses.length === expected.length ? addresses : null;
      }, 30_000);
      expect(reported).toEqual(expected);
    } finally {
      expect(await agent.stop()).toEqual({ code: 0, signal: null });
      dir.remove();
    }
  });
});
