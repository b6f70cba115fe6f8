// The agent names USB devices as lsusb does. lsusb cannot list synthetic devices, so the test
// asks the same compiled hwdb the same questions lsusb asks (usbutils names.c: the modaliases
// `usb:v%04X*` for ID_VENDOR_FROM_DATABASE and `usb:v%04Xp%04X*` for ID_MODEL_FROM_DATABASE),
// through `systemd-hwdb query`, for every product of common vendors in this system's hwdb.

import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { DEFAULT_IDS_PATHS, usbNames } from '../../agent/backends/linux/device-names.ts';
import { parseIds } from '../../agent/backends/linux/ids-database.ts';

function hwdbQueryWorks(): boolean {
  try {
    return execFileSync('systemd-hwdb', ['query', 'usb:v1D6B*'], { encoding: 'utf8' }).includes('ID_VENDOR_FROM_DATABASE=');
  } catch {
    return false;
  }
}

const usbHwdb = DEFAULT_IDS_PATHS.usbHwdb.find((path) => existsSync(path));
const usbIds = DEFAULT_IDS_PATHS.usb.find((path) => existsSync(path));
const skipReason = !usbHwdb ? 'no udev hwdb (Debian: udev)' : !hwdbQueryWorks() ? 'systemd-hwdb query cannot read a compiled hwdb.bin' : null;

// Keyboards and receivers, flash drives, security keys, Bluetooth, USB NICs, GPUs' USB-C controllers.
const VENDORS = ['046d', '0781', '1050', '8087', '1d6b', '0bda', '10de', '0951', '05ac', '045e'];

/** Every vendor:product ID usb.ids lists (vendor and product lines, before the class sections). */
function usbIdsProducts(text: string): Array<{ vendorId: string; productId: string }> {
  const products = [];
  let vendor: string | null = null;
  for (const line of text.split('\n')) {
    if (/^[A-Z]{1,3} /.test(line)) break;
    const vendorLine = /^([0-9a-f]{4}) {2}/.exec(line);
    if (vendorLine) vendor = vendorLine[1]!;
    const productLine = /^\t([0-9a-f]{4}) {2}/.exec(line);
    if (productLine && vendor && !vendorLine) products.push({ vendorId: vendor, productId: productLine[1]! });
  }
  return products;
}

/** What libudev answers for each modalias, one `systemd-hwdb query` each, in one shell. */
function queryHwdb(modaliases: string[], key: string): string[] {
  const output = execFileSync('sh', ['-c', 'while IFS= read -r m; do systemd-hwdb query "$m"; echo ---; done'], {
    input: `${modaliases.join('\n')}\n`,
    encoding: 'utf8',
    maxBuffer: 64 << 20,
  });
  return output
    .split('---\n')
    .slice(0, modaliases.length)
    .map((block) => block.split('\n').find((line) => line.startsWith(`${key}=`))?.slice(key.length + 1) ?? '');
}

describe.skipIf(skipReason !== null)(`USB names${skipReason ? ` (skipped: ${skipReason})` : ''}`, () => {
  it("names every product of common USB vendors, and every ID usb.ids and the hwdb disagree on, exactly as lsusb's hwdb lookups do", async () => {
    const text = readFileSync(usbHwdb!, 'utf8');
    const inHwdb = [...text.matchAll(/^usb:v([0-9A-F]{4})p([0-9A-F]{4})\*$/gm)].map((match) => ({
      vendorId: match[1]!.toLowerCase(),
      productId: match[2]!.toLowerCase(),
    }));
    const usbIdsText = usbIds ? readFileSync(usbIds, 'utf8') : '';
    const inUsbIds = usbIdsProducts(usbIdsText);
    // Where the two files differ is where lsusb's rule (the hwdb, never usb.ids) shows.
    const usbIdsNames = parseIds(usbIdsText);
    const lsusbNames = await usbNames(DEFAULT_IDS_PATHS);
    const differ = inUsbIds.filter((p) => usbIdsNames.productName(p.vendorId, p.productId) !== lsusbNames.productName(p.vendorId, p.productId));
    const unique = new Map(
      [...inHwdb, ...inUsbIds]
        .filter((p) => VENDORS.includes(p.vendorId))
        .concat(differ, VENDORS.map((vendorId) => ({ vendorId, productId: 'fffe' })))
        .map((p) => [`${p.vendorId}:${p.productId}`, p]),
    );
    const products = [...unique.values()];
    expect(products.length).toBeGreaterThan(500);

    const names = await usbNames(DEFAULT_IDS_PATHS);
    const hex = (id: string) => id.toUpperCase();
    const vendorAnswers = queryHwdb(VENDORS.map((vendor) => `usb:v${hex(vendor)}*`), 'ID_VENDOR_FROM_DATABASE');
    const productAnswers = queryHwdb(products.map((p) => `usb:v${hex(p.vendorId)}p${hex(p.productId)}*`), 'ID_MODEL_FROM_DATABASE');

    const disagreements = [
      ...VENDORS.map((vendorId, n) => ({ id: vendorId, agent: names.vendorName(vendorId) ?? '', lsusb: vendorAnswers[n] })),
      ...products.map((p, n) => ({ id: `${p.vendorId}:${p.productId}`, agent: names.productName(p.vendorId, p.productId) ?? '', lsusb: productAnswers[n] })),
    ].filter((answer) => answer.agent !== answer.lsusb);
    expect(disagreements.slice(0, 20)).toEqual([]);
    expect(disagreements).toHaveLength(0);
  });
});
