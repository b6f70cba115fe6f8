// What the host has, read from sysfs and procfs the way `lspci -nn -D` and `lsusb` see it.

import { join } from 'node:path';
import type { DeviceKind, DiscoveredDevice, HostFacts } from '../../backend.ts';
import { pciNames, usbNames, type IdsPaths } from './device-names.ts';
import { hostUses } from './host-usage.ts';
import { hexId, listDirectory, readAttribute, readLinkName } from './sysfs.ts';

const PCI_BASE_CLASS_BRIDGE = 0x06;
const PCI_BASE_CLASS_DISPLAY = 0x03;
const PCI_CLASS_NVME = 0x010802;
const USB_CLASS_HUB = '09';
// USB devices are named by port path (`1-2`, `1-2.3`); interfaces (`1-2:1.0`) and root hubs
// (`usb1`) live in the same directory and are not devices one can pass through.
const USB_DEVICE_NAME = /^\d+-\d+(\.\d+)*$/;

export function pciDevicesDir(sysfsRoot: string): string {
  return join(sysfsRoot, 'bus/pci/devices');
}

export function usbDevicesDir(sysfsRoot: string): string {
  return join(sysfsRoot, 'bus/usb/devices');
}

function pciKind(classCode: number): DeviceKind {
  if (classCode >> 16 === PCI_BASE_CLASS_DISPLAY) return 'GPU';
  if (classCode === PCI_CLASS_NVME) return 'NVME';
  return 'PCI';
}

async function requireAttribute(path: string): Promise<string> {
  const value = await readAttribute(path);
  if (value === null) throw new Error(`${path} is missing`);
  return value;
}

async function nvmeSerial(deviceDir: string): Promise<string | null> {
  for (const controller of await listDirectory(join(deviceDir, 'nvme'))) {
    const serial = await readAttribute(join(deviceDir, 'nvme', controller, 'serial'));
    if (serial) return serial;
  }
  return null;
}

function optionalInteger(raw: string | null): number | null {
  return raw === null ? null : Number.parseInt(raw, 10);
}

/** `0x0c0330` as `0c0330`, `0xa1` as `a1`: the hex digits, `digits` wide; null when absent. */
function optionalHex(raw: string | null, digits: number): string | null {
  return raw === null ? null : raw.replace(/^0x/i, '').toLowerCase().padStart(digits, '0');
}

/** What on the host uses a PCI function (its disks' mounts, swap, holders; the default-route NIC), in one sentence; null when nothing does. */
async function hostUse(sysfsRoot: string, procRoot: string, deviceDir: string): Promise<string | null> {
  const uses = await hostUses(sysfsRoot, procRoot, deviceDir);
  return uses.length === 0 ? null : uses.map((use) => `${use.subject} ${use.problem}`).join('. ');
}

/** Every PCI function but bridges; `procRoot` is read for what the host uses (mounts, swap, routes). */
export async function discoverPci(sysfsRoot: string, idsPaths: IdsPaths, procRoot = '/proc'): Promise<DiscoveredDevice[]> {
  const ids = await pciNames(idsPaths);
  const devicesDir = pciDevicesDir(sysfsRoot);
  const devices: DiscoveredDevice[] = [];
  for (const address of await listDirectory(devicesDir)) {
    const dir = join(devicesDir, address);
    const classAttribute = await requireAttribute(join(dir, 'class'));
    const classCode = Number.parseInt(classAttribute, 16);
    if (classCode >> 16 === PCI_BASE_CLASS_BRIDGE) continue;
    const kind = pciKind(classCode);
    const vendorId = hexId(await requireAttribute(join(dir, 'vendor')));
    const productId = hexId(await requireAttribute(join(dir, 'device')));
    const iommuGroup = await readLinkName(join(dir, 'iommu_group'));
    const numaNode = optionalInteger(await readAttribute(join(dir, 'numa_node')));
    devices.push({
      kind,
      address,
      vendorId,
      productId,
      vendorName: ids.vendorName(vendorId),
      productName: ids.productName(vendorId, productId),
      classCode: optionalHex(classAttribute, 6),
      subsystemVendorId: optionalHex(await readAttribute(join(dir, 'subsystem_vendor')), 4),
      subsystemProductId: optionalHex(await readAttribute(join(dir, 'subsystem_device')), 4),
      revision: optionalHex(await readAttribute(join(dir, 'revision')), 2),
      serial: kind === 'NVME' ? await nvmeSerial(dir) : null,
      iommuGroup: optionalInteger(iommuGroup),
      // The kernel reports -1 when the platform has no NUMA information for the slot.
      numaNode: numaNode === null || numaNode < 0 ? null : numaNode,
      driver: await readLinkName(join(dir, 'driver')),
      inUse: await hostUse(sysfsRoot, procRoot, dir),
    });
  }
  return devices;
}

export async function discoverUsb(sysfsRoot: string, idsPaths: IdsPaths): Promise<DiscoveredDevice[]> {
  const ids = await usbNames(idsPaths);
  const devicesDir = usbDevicesDir(sysfsRoot);
  const devices: DiscoveredDevice[] = [];
  for (const address of await listDirectory(devicesDir)) {
    if (!USB_DEVICE_NAME.test(address)) continue;
    const dir = join(devicesDir, address);
    if ((await readAttribute(join(dir, 'bDeviceClass'))) === USB_CLASS_HUB) continue;
    const vendorId = hexId(await requireAttribute(join(dir, 'idVendor')));
    const productId = hexId(await requireAttribute(join(dir, 'idProduct')));
    devices.push({
      kind: 'USB',
      address,
      vendorId,
      productId,
      // What the database lacks, lsusb takes from the device's own string descriptors.
      vendorName: ids.vendorName(vendorId) ?? ((await readAttribute(join(dir, 'manufacturer'))) || null),
      productName: ids.productName(vendorId, productId) ?? ((await readAttribute(join(dir, 'product'))) || null),
      // PCI configuration space only.
      classCode: null,
      subsystemVendorId: null,
      subsystemProductId: null,
      revision: null,
      serial: (await readAttribute(join(dir, 'serial'))) || null,
      iommuGroup: null,
      numaNode: null,
      driver: await readLinkName(join(dir, 'driver')),
      // A USB device stays on its host driver while passed through; the host gives nothing up.
      inUse: null,
    });
  }
  return devices;
}

/** Where a USB device sits right now (`busnum`/`devnum`): changes whenever it is replugged. */
export async function usbBusAddress(sysfsRoot: string, portPath: string): Promise<{ bus: number; device: number }> {
  const dir = join(usbDevicesDir(sysfsRoot), portPath);
  return {
    bus: Number.parseInt(await requireAttribute(join(dir, 'busnum')), 10),
    device: Number.parseInt(await requireAttribute(join(dir, 'devnum')), 10),
  };
}

/** IOMMU groups exist only when the IOMMU is on (`intel_iommu=on` / `amd_iommu=on`). */
export async function iommuEnabled(sysfsRoot: string): Promise<boolean> {
  return (await listDirectory(join(sysfsRoot, 'kernel/iommu_groups'))).length > 0;
}

export async function readFacts(sysfsRoot: string, procRoot: string): Promise<HostFacts> {
  const cpuinfo = await requireAttribute(join(procRoot, 'cpuinfo'));
  const meminfo = await requireAttribute(join(procRoot, 'meminfo'));
  const memTotalKb = /^MemTotal:\s+(\d+) kB$/m.exec(meminfo)?.[1];
  if (memTotalKb === undefined) throw new Error(`no MemTotal line in ${join(procRoot, 'meminfo')}`);
  return {
    cpuCores: cpuinfo.match(/^processor\s*:/gm)?.length ?? 0,
    memoryMb: Math.floor(Number(memTotalKb) / 1024),
    iommuEnabled: await iommuEnabled(sysfsRoot),
  };
}
