// A PCI function's address as sysfs and lspci -D print it: domain:bus:slot.function.

export interface PciAddress {
  domain: number;
  bus: number;
  slot: number;
  function: number;
}

const PCI_ADDRESS = /^([0-9a-f]{4}):([0-9a-f]{2}):([0-9a-f]{2})\.([0-7])$/;

/** Throws on anything else, so an address can never step outside `/sys/bus/pci/devices`. */
export function parsePciAddress(address: string): PciAddress {
  const match = PCI_ADDRESS.exec(address);
  if (!match) throw new Error(`"${address}" is not a PCI address like 0000:65:00.0`);
  const [domain, bus, slot, fn] = match.slice(1).map((hex) => Number.parseInt(hex, 16)) as [number, number, number, number];
  return { domain, bus, slot, function: fn };
}
