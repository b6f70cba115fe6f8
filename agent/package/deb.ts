// The agent's Debian package, built with dpkg-deb from a staged tree: the bundle, a command
// that runs it with Debian's node, the systemd unit, the configuration (a conffile) and the
// maintainer scripts in agent/package/files/.

import { execFile } from 'node:child_process';
import { chmod, copyFile, mkdir, mkdtemp, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { promisify } from 'node:util';
import { MINIMUM_NODE_MAJOR } from './bundle.ts';

const run = promisify(execFile);

const PACKAGE_NAME = 'passthru-agent';

/** Where the package puts things on the host. The unit names the bundle and the configuration too; the package test checks they agree. */
export const INSTALLED_PATHS = {
  bundle: '/usr/lib/passthru-agent/passthru-agent.mjs',
  command: '/usr/bin/passthru-agent',
  unit: '/usr/lib/systemd/system/passthru-agent.service',
  config: '/etc/passthru-agent/agent.env',
  modulesLoad: '/usr/lib/modules-load.d/passthru-agent.conf',
  readme: '/usr/share/doc/passthru-agent/README.md',
};

/** The runtime packages the agent calls: node, virsh (libvirt-clients), pci.ids/usb.ids (hwdata), the hwdb files (udev), lspci (pciutils). */
export const DEPENDS = [`nodejs (>= ${MINIMUM_NODE_MAJOR})`, 'libvirt-clients', 'hwdata', 'udev', 'pciutils'];

const MAINTAINER_SCRIPTS = ['postinst', 'prerm', 'postrm'];

const FILES_DIR = new URL('files/', import.meta.url).pathname;
const AGENT_DIR = new URL('../', import.meta.url).pathname;

function debFileName(version: string): string {
  return `${PACKAGE_NAME}_${version}_all.deb`;
}

function control(version: string, installedSizeKb: number): string {
  return `Package: ${PACKAGE_NAME}
Version: ${version}
Architecture: all
Maintainer: Passthru maintainers <passthru@example.com>
Section: admin
Priority: optional
Depends: ${DEPENDS.join(', ')}
Recommends: libvirt-daemon-system
Installed-Size: ${installedSizeKb}
Description: Passthru host agent for GPU, USB and NVMe passthrough
 Runs on every KVM host of a Passthru cluster: reports the host's GPUs, USB
 devices and NVMe drives to the Passthru server, binds them to vfio-pci and
 back, and defines, starts and stops libvirt domains on the server's request.
 .
 Configure /etc/passthru-agent/agent.env and /etc/passthru-agent/token, then
 enable passthru-agent.service.
`;
}

async function place(root: string, path: string, content: { from: string } | { text: string }, mode: number): Promise<number> {
  const target = join(root, path);
  await mkdir(dirname(target), { recursive: true });
  if ('from' in content) await copyFile(content.from, target);
  else await writeFile(target, content.text);
  await chmod(target, mode);
  return (await stat(target)).size;
}

/** Every directory of the staged tree 0755 whatever the umask, except those named in `modes`. */
async function fixDirectoryModes(root: string, paths: string[], modes: Record<string, number>): Promise<void> {
  const dirs = new Set<string>();
  for (const path of paths) {
    for (let dir = dirname(path); dir !== '/'; dir = dirname(dir)) dirs.add(dir);
  }
  dirs.add('/');
  for (const dir of dirs) await chmod(join(root, dir), modes[dir] ?? 0o755);
}

/** Builds `<outDir>/passthru-agent_<version>_all.deb` around an already built bundle; returns its path. */
export async function buildDeb(options: { bundle: string; version: string; outDir: string }): Promise<string> {
  const root = await mkdtemp(join(tmpdir(), 'passthru-deb-'));
  try {
    const sizes = [
      await place(root, INSTALLED_PATHS.bundle, { from: options.bundle }, 0o644),
      // Debian's node, not whichever `node` comes first on PATH.
      await place(root, INSTALLED_PATHS.command, { text: `#!/bin/sh\nexec /usr/bin/node ${INSTALLED_PATHS.bundle} "$@"\n` }, 0o755),
      await place(root, INSTALLED_PATHS.unit, { from: join(AGENT_DIR, 'passthru-agent.service') }, 0o644),
      await place(root, INSTALLED_PATHS.config, { from: join(FILES_DIR, 'agent.env') }, 0o644),
      await place(root, INSTALLED_PATHS.modulesLoad, { from: join(FILES_DIR, 'modules-load.conf') }, 0o644),
      await place(root, INSTALLED_PATHS.readme, { from: join(AGENT_DIR, 'README.md') }, 0o644),
    ];
    const installedSizeKb = Math.ceil(sizes.reduce((sum, size) => sum + size, 0) / 1024);
    await place(root, 'DEBIAN/control', { text: control(options.version, installedSizeKb) }, 0o644);
    await place(root, 'DEBIAN/conffiles', { text: `${INSTALLED_PATHS.config}\n` }, 0o644);
    for (const script of MAINTAINER_SCRIPTS) await place(root, `DEBIAN/${script}`, { from: join(FILES_DIR, script) }, 0o755);
    // The directory will hold the host token.
    await fixDirectoryModes(root, [...Object.values(INSTALLED_PATHS), '/DEBIAN/control'], { [dirname(INSTALLED_PATHS.config)]: 0o700 });

    await mkdir(options.outDir, { recursive: true });
    const deb = join(options.outDir, debFileName(options.version));
    // --root-owner-group: every file root:root without fakeroot.
    await run('dpkg-deb', ['--root-owner-group', '-Zxz', '--build', root, deb]);
    return deb;
  } finally {
    await rm(root, { recursive: true, force: true });
  }
}
