// Device names resolved the way lspci and lsusb resolve them, from the same files.
//
// lspci (pciutils lib/names.c, id_lookup): an ID found in pci.ids is named from pci.ids; only
// an ID pci.ids lacks is asked of the udev hwdb (libudev, when pciutils is built with it, as
// Debian's is). Vendor and product are looked up separately, so a vendor from pci.ids can
// have a product from the hwdb.
//
// lsusb (usbutils names.c, since 008): vendor and product names come from the udev hwdb only;
// usb.ids is not read for them. What the hwdb lacks, lsusb takes from the device's own
// `manufacturer` / `product` strings (see discoverUsb).

import { parseHwdb } from './hwdb.ts';
import { EMPTY_DATABASE, firstNamed, loadDatabase, loadIdsDatabase, type IdsDatabase } from './ids-database.ts';

/** Candidate files for each source, first existing wins. */
export interface IdsPaths {
  pci: readonly string[];
  usb: readonly string[];
  pciHwdb: readonly string[];
  usbHwdb: readonly string[];
}

const HWDB_DIRS = ['/etc/udev/hwdb.d', '/usr/lib/udev/hwdb.d', '/lib/udev/hwdb.d'];

export const DEFAULT_IDS_PATHS: IdsPaths = {
  pci: ['/usr/share/hwdata/pci.ids', '/usr/share/misc/pci.ids'],
  usb: ['/usr/share/hwdata/usb.ids', '/usr/share/misc/usb.ids'],
  pciHwdb: HWDB_DIRS.map((dir) => `${dir}/20-pci-vendor-model.hwdb`),
  usbHwdb: HWDB_DIRS.map((dir) => `${dir}/20-usb-vendor-model.hwdb`),
};

/** PCI names as lspci prints them: pci.ids first, the hwdb for IDs pci.ids lacks. */
export async function pciNames(paths: IdsPaths): Promise<IdsDatabase> {
  const [ids, hwdb] = await Promise.all([
    loadIdsDatabase(paths.pci),
    loadDatabase('pci-hwdb', paths.pciHwdb, (text) => parseHwdb(text, 'pci')),
  ]);
  return firstNamed(ids, hwdb ?? EMPTY_DATABASE);
}

/**
 * USB names as lsusb prints them: the hwdb alone. A host without the hwdb file (no udev) gets
 * usb.ids instead, from which the hwdb is generated, rather than no names at all.
 */
export async function usbNames(paths: IdsPaths): Promise<IdsDatabase> {
  const hwdb = await loadDatabase('usb-hwdb', paths.usbHwdb, (text) => parseHwdb(text, 'usb'));
  return hwdb ?? loadIdsDatabase(paths.usb);
}
