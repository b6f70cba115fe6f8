// Synthetic PCI configuration space in the text form `lspci -x` prints and `lspci -F FILE`
// reads back (pciutils lib/dump.c): a line naming the slot, then `offset: byte byte ...`
// lines, then a blank line. 64 bytes (the standard header) are enough for IDs and names.

export interface ConfigSpace {
  /** `0000:65:00.0` */
  slot: string;
  vendorId: string;
  productId: string;
  /** Six hex digits; 030000 (VGA) when not given. */
  classCode?: string;
  revision?: string;
  subsystemVendorId?: string;
  subsystemProductId?: string;
}

const HEADER_BYTES = 64;

function littleEndian16(bytes: number[], offset: number, hex: string): void {
  const value = Number.parseInt(hex, 16);
  bytes[offset] = value & 0xff;
  bytes[offset + 1] = value >> 8;
}

export function configSpaceDump(functions: readonly ConfigSpace[]): string {
  return functions
    .map((fn) => {
      const bytes = new Array<number>(HEADER_BYTES).fill(0);
      littleEndian16(bytes, 0x00, fn.vendorId);
      littleEndian16(bytes, 0x02, fn.productId);
      bytes[0x08] = Number.parseInt(fn.revision ?? '00', 16);
      const classCode = Number.parseInt(fn.classCode ?? '030000', 16);
      bytes[0x09] = classCode & 0xff;
      bytes[0x0a] = (classCode >> 8) & 0xff;
      bytes[0x0b] = classCode >> 16;
      littleEndian16(bytes, 0x2c, fn.subsystemVendorId ?? '0000');
      littleEndian16(bytes, 0x2e, fn.subsystemProductId ?? '0000');
      const rows = [];
      for (let offset = 0; offset < HEADER_BYTES; offset += 16) {
        const row = bytes.slice(offset, offset + 16).map((byte) => byte.toString(16).padStart(2, '0'));
        rows.push(`${offset.toString(16).padStart(2, '0')}: ${row.join(' ')}`);
      }
      return `${fn.slot} synthetic\n${rows.join('\n')}\n`;
    })
    .join('\n');
}

/** `lspci -vmm` output: one record per slot, `Field:\tvalue` lines, keyed by the Slot field. */
export function parseLspciMachine(text: string): Map<string, Record<string, string>> {
  const records = new Map<string, Record<string, string>>();
  for (const block of text.split('\n\n')) {
    const record: Record<string, string> = {};
    for (const line of block.split('\n')) {
      const field = /^(\w+):\t(.*)$/.exec(line);
      if (field) record[field[1]!] = field[2]!;
    }
    if (record.Slot) records.set(record.Slot, record);
  }
  return records;
}
