// Vendor and product names from the pci.ids / usb.ids databases that distributions ship
// (Debian's `hwdata`, also `pciutils` / `usbutils`). Both files share one format:
//
//   10de  NVIDIA Corporation                 vendor: 4 hex digits, two spaces, name
//   \t2204  GA102 [GeForce RTX 3090]          product of the vendor above
//   \t\t1043 87b5  ROG Strix ...              subsystem: not used here
//   C 03  Display controller                 class section: the vendor list is over
//
// A missing database is not an error: devices are then reported by their IDs alone.

import { readFile } from 'node:fs/promises';

export interface IdsDatabase {
  vendorName(vendorId: string): string | null;
  productName(vendorId: string, productId: string): string | null;
}

interface Vendor {
  name: string;
  products: Map<string, string>;
}

const VENDOR_LINE = /^([0-9a-f]{4}) {2}(.+)$/i;
const PRODUCT_LINE = /^\t([0-9a-f]{4}) {2}(.+)$/i;

export function parseIds(text: string): IdsDatabase {
  const vendors = new Map<string, Vendor>();
  let current: Vendor | undefined;
  for (const line of text.split('\n')) {
    if (line.startsWith('C ')) break;
    const vendor = VENDOR_LINE.exec(line);
    if (vendor) {
      current = { name: vendor[2]!.trim(), products: new Map() };
      vendors.set(vendor[1]!.toLowerCase(), current);
      continue;
    }
    const product = PRODUCT_LINE.exec(line);
    if (product && current) current.products.set(product[1]!.toLowerCase(), product[2]!.trim());
  }
  return {
    vendorName: (vendorId) => vendors.get(vendorId.toLowerCase())?.name ?? null,
    productName: (vendorId, productId) =>
      vendors.get(vendorId.toLowerCase())?.products.get(productId.toLowerCase()) ?? null,
  };
}

export const EMPTY_DATABASE = parseIds('');

/** Each name from the first database that has it, vendor and product looked up separately. */
export function firstNamed(...databases: readonly IdsDatabase[]): IdsDatabase {
  const first = (lookup: (database: IdsDatabase) => string | null) =>
    databases.reduce<string | null>((found, database) => found ?? lookup(database), null);
  return {
    vendorName: (vendorId) => first((database) => database.vendorName(vendorId)),
    productName: (vendorId, productId) => first((database) => database.productName(vendorId, productId)),
  };
}

// pci.ids is over a megabyte and the hwdb files several: parse each once per process, not on
// every inventory.
const loaded = new Map<string, Promise<IdsDatabase | null>>();

/**
 * The first of `candidates` that exists, parsed with `parse`; null when none exists.
 * `format` names the parser in the cache key, so one file read two ways is two entries.
 */
export function loadDatabase(format: string, candidates: readonly string[], parse: (text: string) => IdsDatabase): Promise<IdsDatabase | null> {
  const key = [format, ...candidates].join('\0');
  let database = loaded.get(key);
  if (!database) {
    database = firstReadable(candidates).then((text) => (text === null ? null : parse(text)));
    loaded.set(key, database);
    // An unreadable file (permissions) is retried on the next call rather than cached.
    database.catch(() => loaded.delete(key));
  }
  return database;
}

/** The first of `candidates` that exists, parsed as pci.ids / usb.ids; an empty database when none does. */
export async function loadIdsDatabase(candidates: readonly string[]): Promise<IdsDatabase> {
  return (await loadDatabase('ids', candidates, parseIds)) ?? EMPTY_DATABASE;
}

async function firstReadable(paths: readonly string[]): Promise<string | null> {
  for (const path of paths) {
    try {
      return await readFile(path, 'utf8');
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
    }
  }
  return null;
}
