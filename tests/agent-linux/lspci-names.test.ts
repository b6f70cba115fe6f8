// The agent names PCI devices exactly as lspci does: every vendor:device ID in this system's
// pci.ids and udev hwdb, written as synthetic configuration space and read back with
// `lspci -F`, must get the same vendor and device names from the agent.

import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { DEFAULT_IDS_PATHS, pciNames } from '../../agent/backends/linux/device-names.ts';
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
const skipReason = !lspciInstalled()
  ? 'lspci is not installed (Debian: pciutils)'
  : !pciIds
    ? 'no pci.ids (Debian: pci.ids / hwdata)'
    : !pciHwdb
      ? 'no udev hwdb (Debian: udev)'
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

function lspci(functions: ConfigSpace[]): ReturnType<typeof parseLspciMachine> {
  const dump = join(workDir, 'config-space.txt');
  writeFileSync(dump, configSpaceDump(functions));
  return parseLspciMachine(execFileSync('lspci', ['-F', dump, '-vmm', '-D'], { encoding: 'utf8', maxBuffer: 64 << 20 }));
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
});
