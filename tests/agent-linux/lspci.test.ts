// On a real machine the sysfs discovery must list what `lspci -nn -D` lists (bridges aside).

import { execFileSync } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { DEFAULT_IDS_PATHS } from '../../agent/backends/linux/device-names.ts';
import { discoverPci } from '../../agent/backends/linux/discovery.ts';

function lspciOutput(): string | null {
  try {
    return execFileSync('lspci', ['-nn', '-D'], { encoding: 'utf8' });
  } catch {
    return null;
  }
}

function pciDevicesPresent(): boolean {
  try {
    return readdirSync('/sys/bus/pci/devices').length > 0;
  } catch {
    return false;
  }
}

const lspci = lspciOutput();
const skipReason = lspci === null ? 'lspci is not installed (Debian: pciutils)' : !pciDevicesPresent() ? 'this machine shows no PCI devices' : null;

// `0000:00:03.0 Ethernet controller [0200]: Red Hat, Inc. Virtio network device [1af4:1041] (rev 01)`
const LSPCI_LINE = /^(\S+) .*?\[([0-9a-f]{4})\]: (.*?) \[([0-9a-f]{4}):([0-9a-f]{4})\]/;

/** A device's name the way lspci prints it: "Vendor Product", "Device" for an unknown product. */
function lspciName(vendorName: string | null, productName: string | null) {
  return [vendorName, productName ?? 'Device'].filter((part) => part !== null).join(' ');
}

describe('discovery on this machine', () => {
  it.skipIf(skipReason !== null)(`agrees with lspci -nn -D address for address, ID for ID, name for name${skipReason ? ` (skipped: ${skipReason})` : ''}`, async () => {
    const expected = lspci!
      .split('\n')
      .map((line) => LSPCI_LINE.exec(line))
      .filter((match) => match !== null)
      .filter((match) => !match[2]!.startsWith('06'))
      .map((match) => ({ address: match[1], vendorId: match[4], productId: match[5], name: match[3] }));
    const discovered = (await discoverPci('/sys', DEFAULT_IDS_PATHS)).map(({ address, vendorId, productId, vendorName, productName }) => ({
      address,
      vendorId,
      productId,
      name: lspciName(vendorName, productName),
    }));
    expect(discovered).toEqual(expected);
  });
});
