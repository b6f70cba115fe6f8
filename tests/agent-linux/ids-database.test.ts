import { existsSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { loadIdsDatabase, parseIds } from '../../agent/backends/linux/ids-database.ts';
import { PCI_IDS, USB_IDS } from './fixture-sysfs.ts';

const SYSTEM_PCI_IDS = ['/usr/share/hwdata/pci.ids', '/usr/share/misc/pci.ids'];

describe('pci.ids / usb.ids parser', () => {
  it('finds vendors and their products', () => {
    const pci = parseIds(PCI_IDS);
    expect(pci.vendorName('10de')).toBe('NVIDIA Corporation');
    expect(pci.productName('10de', '2204')).toBe('GA102 [GeForce RTX 3090]');
    expect(parseIds(USB_IDS).productName('046d', 'c31c')).toBe('Keyboard K120');
  });

  it('looks IDs up whatever their case', () => {
    expect(parseIds(PCI_IDS).productName('10DE', '1AEF')).toBe('GA102 High Definition Audio Controller');
  });

  it('keeps a product under its own vendor only', () => {
    expect(parseIds(PCI_IDS).productName('8086', '2204')).toBeNull();
  });

  it('ignores subsystem lines', () => {
    expect(parseIds(PCI_IDS).productName('10de', '1043')).toBeNull();
  });

  it('stops at the class section, whose indented lines are not products', () => {
    const ids = parseIds('8086  Intel Corporation\n\t1533  I210\nC 02  Network controller\n\t0000  not a product\n');
    expect(ids.productName('8086', '0000')).toBeNull();
    expect(ids.productName('8086', '1533')).toBe('I210');
  });

  it('answers null for unknown IDs and for an empty database', () => {
    expect(parseIds(PCI_IDS).vendorName('abcd')).toBeNull();
    expect(parseIds('').productName('10de', '2204')).toBeNull();
  });

  it('loads the first existing candidate and gives an empty database when none exists', async () => {
    expect((await loadIdsDatabase(['/nonexistent/pci.ids'])).vendorName('10de')).toBeNull();
  });

  it.skipIf(!SYSTEM_PCI_IDS.some((path) => existsSync(path)))(
    "resolves 10de:2204 with the system's pci.ids (skipped: no hwdata/pciutils pci.ids installed)",
    async () => {
      const ids = await loadIdsDatabase(SYSTEM_PCI_IDS);
      expect(ids.vendorName('10de')).toMatch(/NVIDIA/);
      expect(ids.productName('10de', '2204')).toContain('GA102');
    },
  );
});
