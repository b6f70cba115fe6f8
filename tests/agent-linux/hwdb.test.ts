import { describe, expect, it } from 'vitest';
import { parseHwdb } from '../../agent/backends/linux/hwdb.ts';
import { PCI_HWDB, USB_HWDB } from './fixture-sysfs.ts';

describe('udev hwdb parser, read as systemd-hwdb compiles it', () => {
  it('finds PCI vendors and products by their modalias', () => {
    const hwdb = parseHwdb(PCI_HWDB, 'pci');
    expect(hwdb.vendorName('10de')).toBe('NVIDIA Corp. (hwdb)');
    expect(hwdb.productName('10DE', '2330')).toBe('GH100 [H100 SXM5 80GB]');
  });

  it('finds USB vendors and products by their modalias', () => {
    const hwdb = parseHwdb(USB_HWDB, 'usb');
    expect(hwdb.vendorName('046d')).toBe('Logitech, Inc.');
    expect(hwdb.productName('046d', 'c31c')).toBe('Keyboard K120');
  });

  it('cuts a value at # like systemd-hwdb does ("Root Port #1" is stored as "Root Port")', () => {
    const hwdb = parseHwdb('pci:v00008086d000043B8*\n ID_MODEL_FROM_DATABASE=Tiger Lake-H PCIe Root Port #1\n', 'pci');
    expect(hwdb.productName('8086', '43b8')).toBe('Tiger Lake-H PCIe Root Port');
  });

  it('gives a record with several match lines to each of them', () => {
    const hwdb = parseHwdb('pci:v00001234d00000001*\npci:v00001234d00000002*\n ID_MODEL_FROM_DATABASE=Twin\n', 'pci');
    expect([hwdb.productName('1234', '0001'), hwdb.productName('1234', '0002')]).toEqual(['Twin', 'Twin']);
  });

  it('ignores the rest of a record after a match line among its properties, and empty values', () => {
    const text = 'pci:v00001234d00000001*\n ID_MODEL_FROM_DATABASE=First\npci:v00001234d00000002*\n ID_MODEL_FROM_DATABASE=Lost\n\npci:v00001234d00000003*\n ID_MODEL_FROM_DATABASE=\n';
    const hwdb = parseHwdb(text, 'pci');
    expect([hwdb.productName('1234', '0001'), hwdb.productName('1234', '0002'), hwdb.productName('1234', '0003')]).toEqual(['First', null, null]);
  });

  it('does not take subsystem matches or other properties for product names', () => {
    const text = 'pci:v000010DEd00002204sv00001043sd000087B5*\n ID_MODEL_FROM_DATABASE=ROG Strix\n\npci:v000010DEd00002204*\n ID_PCI_CLASS_FROM_DATABASE=Display\n';
    expect(parseHwdb(text, 'pci').productName('10de', '2204')).toBeNull();
  });
});
