// Vendor and product names from the udev hwdb source files systemd ships (Debian: package
// `udev`, /usr/lib/udev/hwdb.d/20-pci-vendor-model.hwdb and 20-usb-vendor-model.hwdb). They are
// generated from a newer pci.ids / usb.ids than the distribution's own copy, so they name
// devices that copy does not (H200, GH200, RTX 5090 on Debian 12):
//
//   pci:v000010DE*                          a vendor (usb:v046D* for USB)
//    ID_VENDOR_FROM_DATABASE=NVIDIA Corporation
//
//   pci:v000010DEd00002B85*                 a product (usb:v046DpC31C* for USB)
//    ID_MODEL_FROM_DATABASE=GB202 [GeForce RTX 5090]
//
// A record is one or more match lines, then property lines (leading space), then a blank
// line. lspci and lsusb ask libudev for exactly these two kinds of match and read these two
// properties; subsystem matches (`...sv...sd...*`) and other files' properties are not names
// they print for a device, so they are skipped here.

import type { IdsDatabase } from './ids-database.ts';

export type HwdbBus = 'pci' | 'usb';

// PCI IDs are 8 hex digits in hwdb modaliases, USB IDs 4; both upper case.
const MATCHES: Record<HwdbBus, { vendor: RegExp; product: RegExp }> = {
  pci: { vendor: /^pci:v0000([0-9A-F]{4})\*$/, product: /^pci:v0000([0-9A-F]{4})d0000([0-9A-F]{4})\*$/ },
  usb: { vendor: /^usb:v([0-9A-F]{4})\*$/, product: /^usb:v([0-9A-F]{4})p([0-9A-F]{4})\*$/ },
};
const PROPERTY_LINE = /^\s*([^=]+)=(.*)$/;

/**
 * Reads the file the way systemd-hwdb compiles it (src/shared/hwdb-util.c, import_file): a
 * `#` starts a comment anywhere in a line (so "Root Port #1" is stored as "Root Port"),
 * trailing white space goes, a blank line ends a record, a match line among properties
 * throws the record away, and an empty value is ignored.
 */
export function parseHwdb(text: string, bus: HwdbBus): IdsDatabase {
  const vendors = new Map<string, string>();
  const products = new Map<string, string>();
  const { vendor: vendorMatch, product: productMatch } = MATCHES[bus];
  let state: 'none' | 'match' | 'data' = 'none';
  let matches: string[] = [];
  for (const raw of text.split('\n')) {
    if (raw.startsWith('#')) continue;
    const line = raw.replace(/#.*$/, '').replace(/[ \t\n\v\f\r]+$/, '');
    if (line === '' || (state === 'data' && !line.startsWith(' '))) {
      [state, matches] = ['none', []];
      continue;
    }
    if (!line.startsWith(' ')) {
      if (state === 'none' || state === 'match') [state, matches] = ['match', [...matches, line]];
      continue;
    }
    if (state === 'none') continue;
    state = 'data';
    const property = PROPERTY_LINE.exec(line);
    const value = property?.[2] ?? '';
    if (value === '') continue;
    const key = property?.[1];
    for (const match of matches) {
      const product = productMatch.exec(match);
      if (product && key === 'ID_MODEL_FROM_DATABASE') products.set(productKey(product[1]!, product[2]!), value);
      const vendor = vendorMatch.exec(match);
      if (vendor && key === 'ID_VENDOR_FROM_DATABASE') vendors.set(vendor[1]!.toLowerCase(), value);
    }
  }
  return {
    vendorName: (vendorId) => vendors.get(vendorId.toLowerCase()) ?? null,
    productName: (vendorId, productId) => products.get(productKey(vendorId, productId)) ?? null,
  };
}

function productKey(vendorId: string, productId: string): string {
  return `${vendorId.toLowerCase()}:${productId.toLowerCase()}`;
}
