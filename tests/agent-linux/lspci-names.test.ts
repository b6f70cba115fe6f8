// The agent names PCI devices exactly as lspci does: every vendor:device ID in this system's
// pci.ids and udev hwdb, written as synthetic configuration space and read back with
// `lspci -F`, must get the same vendor and device names from the agent.

import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { DEFAULT_IDS_PATHS, pciNames } from '../../agent/backends/linux/device-names.ts';
import { discoverPci } from '../../agent/backends/linux/discovery.ts';
import { buildHost, standardHost, type PciFunctionFixture } from './fixture-sysfs.ts';
import { configSpaceDump, parseLspciMachine, type ConfigSpace } from './lspci-dump.ts';

function lspciInstalled(): boolean {
  try {
    execFileSync('lspci', ['--version'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

const pciIds = DEFAULT_IDS_PATHS.pci.find((path) => existsSync(path));
const pciHwdb = DEFAULT_IDS_PATHS.pciHwdb.find((path) => existsSync(path));
// lspci reads the hwdb compiled from those files (libudev); udev's package compiles it on install.
const compiledHwdb = ['/etc/udev/hwdb.bin', '/usr/lib/udev/hwdb.bin'].some((path) => existsSync(path));
const skipReason = !lspciInstalled()
  ? 'lspci is not installed (Debian: pciutils)'
  : !pciIds
    ? 'no pci.ids (Debian: pci.ids / hwdata)'
    : !pciHwdb
      ? 'no udev hwdb (Debian: udev)'
      : !compiledHwdb
        ? 'no compiled hwdb.bin for lspci (run systemd-hwdb update)'
        : null;

/** Every vendor:device pair either database names, plus an unnamed device of every vendor. */
function everyId(pciIdsText: string, hwdbText: string): Array<{ vendorId: string; productId: string }> {
  const pairs = new Set<string>();
  let vendor: string | null = null;
  for (const line of pciIdsText.split('\n')) {
    if (line.startsWith('C ')) break;
    const vendorLine = /^([0-9a-f]{4}) {2}/.exec(line);
    if (vendorLine) vendor = vendorLine[1]!;
    const productLine = /^\t([0-9a-f]{4}) {2}/.exec(line);
    if (vendorLine) pairs.add(`${vendor}:ffff`);
    else if (productLine && vendor) pairs.add(`${vendor}:${productLine[1]}`);
  }
  for (const match of hwdbText.matchAll(/^pci:v0000([0-9A-F]{4})(?:d0000([0-9A-F]{4}))?\*$/gm)) {
    pairs.add(`${match[1]!.toLowerCase()}:${(match[2] ?? 'ffff').toLowerCase()}`);
  }
  return [...pairs].sort().map((pair) => {
    const [vendorId, productId] = pair.split(':');
    return { vendorId: vendorId!, productId: productId! };
  });
}

/** Bus, device and function numbers for the n-th synthetic function, in domain form. */
function slot(n: number): string {
  const hex = (value: number, width: number) => value.toString(16).padStart(width, '0');
  return `${hex(n >> 16, 4)}:${hex((n >> 8) & 0xff, 2)}:${hex((n >> 3) & 0x1f, 2)}.${n & 7}`;
}

const workDir = mkdtempSync(join(tmpdir(), 'passthru-lspci-'));
afterAll(() => rmSync(workDir, { recursive: true, force: true }));

function lspci(functions: ConfigSpace[], options: string[] = []): ReturnType<typeof parseLspciMachine> {
  const dump = join(workDir, 'config-space.txt');
  writeFileSync(dump, configSpaceDump(functions));
  return parseLspciMachine(execFileSync('lspci', ['-F', dump, '-vmm', '-D', ...options], { encoding: 'utf8', maxBuffer: 64 << 20 }));
}

const GPU_NIC_STORAGE_VENDORS = ['10de', '1002', '8086', '15b3', '14e4', '144d', '1000', '9005', '1077', '1924', '19e5', '1e0f', '1c5c', '1af4'];

describe.skipIf(skipReason !== null)(`PCI names${skipReason ? ` (skipped: ${skipReason})` : ''}`, () => {
  it("names every vendor:device ID of this system's pci.ids and udev hwdb exactly as lspci -F does", async () => {
    const ids = everyId(readFileSync(pciIds!, 'utf8'), readFileSync(pciHwdb!, 'utf8'));
    // The GPU, NIC and storage vendors are all there, with the IDs pci.ids alone lacks.
    for (const vendor of GPU_NIC_STORAGE_VENDORS) expect(ids.some((id) => id.vendorId === vendor)).toBe(true);
    const functions = ids.map((id, n) => ({ slot: slot(n), ...id }));
    const printed = lspci(functions);
    const names = await pciNames(DEFAULT_IDS_PATHS);
    const disagreements = functions.flatMap(({ slot: at, vendorId, productId }) => {
      const agent = {
        // lspci's words for an ID no database names.
        vendor: names.vendorName(vendorId) ?? `Vendor ${vendorId}`,
        device: names.productName(vendorId, productId) ?? `Device ${productId}`,
      };
      const shown = printed.get(at);
      const lspciSays = { vendor: shown?.Vendor, device: shown?.Device };
      return agent.vendor === lspciSays.vendor && agent.device === lspciSays.device ? [] : [{ id: `${vendorId}:${productId}`, agent, lspci: lspciSays }];
    });
    expect(functions.length).toBeGreaterThan(20_000);
    expect(disagreements.slice(0, 20)).toEqual([]);
    expect(disagreements).toHaveLength(0);
  });

  it('names the devices pci.ids lacks from the hwdb, as lspci does (H200, H100 SXM5, GH200, RTX 5090, W7900)', async () => {
    const names = await pciNames(DEFAULT_IDS_PATHS);
    const examples = [
      ['10de', '2335'],
      ['10de', '2330'],
      ['10de', '2342'],
      ['10de', '2b85'],
      ['1002', '7448'],
    ] as const;
    const printed = lspci(examples.map(([vendorId, productId], n) => ({ slot: slot(n), vendorId, productId })));
    for (const [n, [vendorId, productId]] of examples.entries()) {
      expect(names.productName(vendorId, productId)).toBe(printed.get(slot(n))?.Device);
    }
    expect(names.productName('10de', '2b85')).toBe('GB202 [GeForce RTX 5090]');
  });

  it('reports what lspci shows of a sysfs fixture host: names, class, subsystem IDs and revision', async () => {
    const fixture = standardHost();
    const examples: PciFunctionFixture[] = [
      { address: '0000:17:00.0', classCode: '0x030200', vendor: '0x10de', device: '0x2335', subsystemVendor: '0x10de', subsystemDevice: '0x18be', revision: '0xa1' },
      { address: '0000:18:00.0', classCode: '0x030200', vendor: '0x10de', device: '0x2342', subsystemVendor: '0x10de', subsystemDevice: '0x16eb', revision: '0xa1' },
      { address: '0000:19:00.0', classCode: '0x030000', vendor: '0x10de', device: '0x2b85', subsystemVendor: '0x1043', subsystemDevice: '0x89e5', revision: '0xa1' },
      { address: '0000:1a:00.0', classCode: '0x030000', vendor: '0x1002', device: '0x7448', subsystemVendor: '0x1002', subsystemDevice: '0x0e0d', revision: '0x00' },
      { address: '0000:1b:00.0', classCode: '0x020000', vendor: '0x15b3', device: '0x1021', subsystemVendor: '0x15b3', subsystemDevice: '0x0023', revision: '0x00' },
      { address: '0000:1c:00.0', classCode: '0x010802', vendor: '0x144d', device: '0xa80c', subsystemVendor: '0x144d', subsystemDevice: '0xa801', revision: '0x00' },
      { address: '0000:1d:00.0', classCode: '0x010700', vendor: '0x1000', device: '0x00e6', subsystemVendor: '0x1000', subsystemDevice: '0x4050', revision: '0x01' },
    ];
    fixture.pci = examples;
    const host = await buildHost(fixture);
    try {
      const discovered = await discoverPci(host.sysfsRoot, DEFAULT_IDS_PATHS);
      const hex = (raw: string | undefined) => (raw ?? '0x0').replace(/^0x/, '');
      const printed = lspci(
        examples.map((fn) => ({
          slot: fn.address,
          vendorId: hex(fn.vendor),
          productId: hex(fn.device),
          classCode: hex(fn.classCode),
          revision: hex(fn.revision),
          subsystemVendorId: hex(fn.subsystemVendor),
          subsystemProductId: hex(fn.subsystemDevice),
        })),
        ['-nn'],
      );
      const asLspciShowsIt = discovered.map((device) => ({
        Slot: device.address,
        Vendor: `${device.vendorName} [${device.vendorId}]`,
        Device: `${device.productName} [${device.productId}]`,
        ClassId: device.classCode?.slice(0, 4),
        ProgIf: device.classCode?.slice(4),
        SVendorId: device.subsystemVendorId,
        SDeviceId: device.subsystemProductId,
        // lspci leaves out a zero revision.
        Rev: device.revision === '00' ? undefined : device.revision,
      }));
      const shown = [...printed.values()].map((record) => ({
        Slot: record.Slot,
        Vendor: record.Vendor,
        Device: record.Device,
        ClassId: /\[([0-9a-f]{4})\]$/.exec(record.Class ?? '')?.[1],
        ProgIf: record.ProgIf ?? '00',
        SVendorId: /\[([0-9a-f]{4})\]$/.exec(record.SVendor ?? '')?.[1],
        SDeviceId: /\[([0-9a-f]{4})\]$/.exec(record.SDevice ?? '')?.[1],
        Rev: record.Rev,
      }));
      expect(asLspciShowsIt).toEqual(shown);
    } finally {
      await host.remove();
    }
  });
});
