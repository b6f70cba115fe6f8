// Fixture hosts for the linux backend: a sysfs tree, a procfs tree and small pci.ids/usb.ids
// files in a temporary directory. Attributes the backend writes (driver_override, bind,
// unbind, drivers_probe) are plain files, so a test reads back exactly what was written.

import { mkdir, mkdtemp, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join, relative } from 'node:path';
import type { IdsPaths } from '../../agent/backends/linux/device-names.ts';

export interface BlockDeviceFixture {
  name: string;
  /** `major:minor` */
  dev: string;
  holders?: string[];
}

export interface NvmeNamespaceFixture extends BlockDeviceFixture {
  partitions?: BlockDeviceFixture[];
}

/** A disk on any controller: `path` is where its directory sits under the PCI function. */
export interface DiskFixture extends NvmeNamespaceFixture {
  /** `virtio3/block/vda`, `ata1/host0/target0:0:0/0:0:0:0/block/sda` */
  path: string;
}

/** An LVM volume, dm-crypt mapping or MD array, under /sys/devices/virtual/block. */
export interface VirtualBlockFixture extends BlockDeviceFixture {
  /** dm/name and dm/uuid of a device-mapper device (`vg0-root`, `LVM-...`). */
  dm?: { name: string; uuid: string };
  /** md/level of an MD array (`raid1`). */
  mdLevel?: string;
}

export interface NetInterfaceFixture {
  name: string;
  /** The PCI function of a physical interface; absent for a bridge, bond or VLAN. */
  pciAddress?: string;
  /** Interfaces below it: a bridge's ports, a bond's slaves, a VLAN's parent. */
  lower?: string[];
}

export interface PciFunctionFixture {
  address: string;
  /** As sysfs prints it: `0x030000`. */
  classCode: string;
  vendor: string;
  device: string;
  /** `subsystem_vendor`, `subsystem_device` and `revision` as sysfs prints them (`0x1043`, `0xa1`); absent when not given. */
  subsystemVendor?: string;
  subsystemDevice?: string;
  revision?: string;
  iommuGroup?: number;
  /** Absent means the kernel's -1. */
  numaNode?: number;
  driver?: string;
  nvme?: {
    controller: string;
    serial: string;
    /** Named as under the controller: `nvme0n1`, or `nvme1c1n1` with native multipath. */
    namespaces: NvmeNamespaceFixture[];
  };
  disks?: DiskFixture[];
}

export interface UsbEntryFixture {
  /** `1-2`, `1-2.3`, or what else sits in /sys/bus/usb/devices (`usb1`, `1-2:1.0`). */
  name: string;
  attributes: Record<string, string>;
  driver?: string;
}

export interface HostFixture {
  pci: PciFunctionFixture[];
  usb: UsbEntryFixture[];
  /** false gives the empty /sys/kernel/iommu_groups of a host booted without intel_iommu=on. */
  iommu: boolean;
  /** PCI drivers registered with the kernel besides those bound to a device. */
  loadedPciDrivers: string[];
  cpus: number;
  memTotalKb: number;
  mountinfo: string[];
  swaps: string[];
  virtualBlock?: VirtualBlockFixture[];
  net?: NetInterfaceFixture[];
  /** /proc/net/route lines after the header. */
  routes?: string[];
  /** /proc/net/ipv6_route lines. */
  ipv6Routes?: string[];
}

export const PCI_IDS = `# fixture pci.ids
10de  NVIDIA Corporation
\t1aef  GA102 High Definition Audio Controller
\t2204  GA102 [GeForce RTX 3090]
\t\t1043 87b5  ROG Strix RTX 3090
144d  Samsung Electronics Co Ltd
\ta80a  NVMe SSD Controller PM9A1/PM9A3/980PRO
8086  Intel Corporation
\t1533  I210 Gigabit Network Connection
\t1901  6th-10th Gen Core Processor PCIe Controller (x16)
C 03  Display controller
\t00  VGA compatible controller
`;

export const USB_IDS = `# fixture usb.ids
046d  Logitech, Inc.
\tc31c  Keyboard K120
\tc52b  Unifying Receiver
05e3  Genesys Logic, Inc.
\t0610  Hub
C 09  Hub
\t00  Unused
`;

// The udev hwdb, generated from a newer pci.ids: it names the H100 the fixture pci.ids lacks,
// and spells the RTX 3090 differently, so a test sees which source won.
export const PCI_HWDB = `# fixture 20-pci-vendor-model.hwdb
pci:v000010DE*
 ID_VENDOR_FROM_DATABASE=NVIDIA Corp. (hwdb)

pci:v000010DEd00002204*
 ID_MODEL_FROM_DATABASE=GA102 [GeForce RTX 3090] (hwdb)

pci:v000010DEd00002330*
 ID_MODEL_FROM_DATABASE=GH100 [H100 SXM5 80GB]

pci:v00001D0F*
 ID_VENDOR_FROM_DATABASE=Amazon.com, Inc.
`;

// lsusb reads names from the hwdb only: usb.ids above is not consulted while this exists.
export const USB_HWDB = `# fixture 20-usb-vendor-model.hwdb
usb:v046D*
 ID_VENDOR_FROM_DATABASE=Logitech, Inc.

usb:v046DpC31C*
 ID_MODEL_FROM_DATABASE=Keyboard K120

usb:v05E3*
 ID_VENDOR_FROM_DATABASE=Genesys Logic, Inc.
`;

/** The host the tests talk about: a workstation-class KVM host with one GPU, two NVMe drives and a keyboard. */
export function standardHost(): HostFixture {
  return {
    pci: [
      { address: '0000:00:01.0', classCode: '0x060400', vendor: '0x8086', device: '0x1901', iommuGroup: 1, numaNode: 0, driver: 'pcieport' },
      {
        address: '0000:65:00.0', classCode: '0x030000', vendor: '0x10de', device: '0x2204',
        subsystemVendor: '0x1043', subsystemDevice: '0x87b5', revision: '0xa1', iommuGroup: 42, numaNode: 1, driver: 'nvidia',
      },
      { address: '0000:65:00.1', classCode: '0x040300', vendor: '0x10de', device: '0x1aef', iommuGroup: 42, numaNode: 1, driver: 'snd_hda_intel' },
      {
        address: '0000:03:00.0',
        classCode: '0x010802',
        vendor: '0x144d',
        device: '0xa80a',
        iommuGroup: 14,
        numaNode: 0,
        driver: 'nvme',
        nvme: {
          controller: 'nvme0',
          serial: 'S69ENF0R100001      ',
          namespaces: [
            {
              name: 'nvme0n1',
              dev: '259:0',
              partitions: [
                { name: 'nvme0n1p1', dev: '259:1' },
                { name: 'nvme0n1p2', dev: '259:2' },
              ],
            },
          ],
        },
      },
      {
        address: '0000:04:00.0',
        classCode: '0x010802',
        vendor: '0x144d',
        device: '0xa80a',
        iommuGroup: 15,
        numaNode: 0,
        driver: 'nvme',
        nvme: {
          controller: 'nvme1',
          serial: 'S69ENF0R200002',
          namespaces: [{ name: 'nvme1n1', dev: '259:3', partitions: [{ name: 'nvme1n1p1', dev: '259:4' }] }],
        },
      },
      { address: '0000:05:00.0', classCode: '0x020000', vendor: '0x8086', device: '0x1533', iommuGroup: 16, driver: 'igb' },
    ],
    usb: [
      { name: 'usb1', attributes: { idVendor: '1d6b', idProduct: '0002', bDeviceClass: '09', busnum: '1', devnum: '1' }, driver: 'usb' },
      { name: '1-1', attributes: { idVendor: '05e3', idProduct: '0610', bDeviceClass: '09', busnum: '1', devnum: '2' }, driver: 'usb' },
      {
        name: '1-1.4',
        attributes: { idVendor: '046d', idProduct: 'c31c', bDeviceClass: '00', serial: 'KB-0042', busnum: '1', devnum: '5' },
        driver: 'usb',
      },
      { name: '1-1.4:1.0', attributes: { bInterfaceClass: '03', bInterfaceNumber: '00' }, driver: 'usbhid' },
    ],
    iommu: true,
    loadedPciDrivers: ['vfio-pci'],
    cpus: 8,
    memTotalKb: 65_794_152,
    mountinfo: [
      '21 26 0:20 / /proc rw,nosuid,nodev,noexec,relatime shared:12 - proc proc rw',
      '22 26 0:21 / /sys rw,nosuid,nodev,noexec,relatime shared:2 - sysfs sysfs rw',
      '26 1 259:2 / / rw,relatime shared:1 - ext4 /dev/nvme0n1p2 rw,errors=remount-ro',
      '27 26 259:1 / /boot/efi rw,relatime shared:3 - vfat /dev/nvme0n1p1 rw,fmask=0077',
    ],
    swaps: ['Filename\t\t\t\tType\t\tSize\t\tUsed\t\tPriority'],
  };
}

export interface BuiltHost {
  sysfsRoot: string;
  procRoot: string;
  stateDir: string;
  idsPaths: IdsPaths;
  /** Content of a file under the sysfs root; null when absent. */
  read(pathInSysfs: string): Promise<string | null>;
  /** Every attribute the backend may write, by path under the sysfs root. */
  writableAttributes(): Promise<Record<string, string | null>>;
  remove(): Promise<void>;
}

async function writeFiles(dir: string, files: Record<string, string>): Promise<void> {
  await mkdir(dir, { recursive: true });
  for (const [name, content] of Object.entries(files)) await writeFile(join(dir, name), content);
}

async function link(path: string, target: string): Promise<void> {
  await mkdir(dirname(path), { recursive: true });
  await symlink(relative(dirname(path), target), path);
}

async function buildBlockDevice(sysfsRoot: string, dir: string, device: BlockDeviceFixture, partition?: number): Promise<void> {
  await writeFiles(dir, { dev: `${device.dev}\n`, ...(partition === undefined ? {} : { partition: `${partition}\n` }) });
  await mkdir(join(dir, 'holders'), { recursive: true });
  for (const holder of device.holders ?? []) {
    await link(join(dir, 'holders', holder), join(sysfsRoot, 'devices/virtual/block', holder));
  }
}

async function buildNvme(sysfsRoot: string, deviceDir: string, nvme: NonNullable<PciFunctionFixture['nvme']>): Promise<void> {
  const controllerDir = join(deviceDir, 'nvme', nvme.controller);
  await writeFiles(controllerDir, { serial: `${nvme.serial}\n` });
  for (const namespace of nvme.namespaces) {
    const disk = namespace.name.replace(/c\d+(?=n\d+$)/, '');
    // Without multipath the disk is the namespace under the controller; with it, the path
    // device there is hidden and the disk lives under the virtual nvme-subsystem.
    const diskDir =
      disk === namespace.name
        ? join(controllerDir, namespace.name)
        : join(sysfsRoot, 'devices/virtual/nvme-subsystem', disk);
    await mkdir(join(controllerDir, namespace.name), { recursive: true });
    await buildDisk(sysfsRoot, diskDir, { ...namespace, name: disk });
  }
}

/** A disk, its partitions, and their /sys/class/block links, as the kernel lays them out. */
async function buildDisk(sysfsRoot: string, diskDir: string, disk: NvmeNamespaceFixture): Promise<void> {
  await buildBlockDevice(sysfsRoot, diskDir, disk);
  await link(join(sysfsRoot, 'class/block', disk.name), diskDir);
  for (const [index, partition] of (disk.partitions ?? []).entries()) {
    await buildBlockDevice(sysfsRoot, join(diskDir, partition.name), partition, index + 1);
    await link(join(sysfsRoot, 'class/block', partition.name), join(diskDir, partition.name));
  }
}

export async function buildHost(host: HostFixture): Promise<BuiltHost> {
  const base = await mkdtemp(join(tmpdir(), 'passthru-sysfs-'));
  const sysfsRoot = join(base, 'sys');
  const procRoot = join(base, 'proc');
  const pciDriversDir = join(sysfsRoot, 'bus/pci/drivers');
  const writable: string[] = ['bus/pci/drivers_probe'];

  await writeFiles(join(sysfsRoot, 'bus/pci'), { drivers_probe: '' });
  await mkdir(join(sysfsRoot, 'kernel/iommu_groups'), { recursive: true });
  const drivers = new Set([...host.loadedPciDrivers, ...host.pci.flatMap((fn) => (fn.driver ? [fn.driver] : []))]);
  for (const driver of drivers) {
    await writeFiles(join(pciDriversDir, driver), { bind: '', unbind: '' });
    writable.push(`bus/pci/drivers/${driver}/bind`, `bus/pci/drivers/${driver}/unbind`);
  }

  for (const fn of host.pci) {
    const dir = join(sysfsRoot, 'bus/pci/devices', fn.address);
    await writeFiles(dir, {
      class: `${fn.classCode}\n`,
      vendor: `${fn.vendor}\n`,
      device: `${fn.device}\n`,
      numa_node: `${fn.numaNode ?? -1}\n`,
      driver_override: '(null)\n',
      ...(fn.subsystemVendor ? { subsystem_vendor: `${fn.subsystemVendor}\n` } : {}),
      ...(fn.subsystemDevice ? { subsystem_device: `${fn.subsystemDevice}\n` } : {}),
      ...(fn.revision ? { revision: `${fn.revision}\n` } : {}),
    });
    writable.push(`bus/pci/devices/${fn.address}/driver_override`);
    if (fn.driver) await link(join(dir, 'driver'), join(pciDriversDir, fn.driver));
    if (host.iommu && fn.iommuGroup !== undefined) {
      const groupDir = join(sysfsRoot, 'kernel/iommu_groups', String(fn.iommuGroup));
      await mkdir(join(groupDir, 'devices'), { recursive: true });
      await link(join(dir, 'iommu_group'), groupDir);
    }
    if (fn.nvme) await buildNvme(sysfsRoot, dir, fn.nvme);
    for (const disk of fn.disks ?? []) await buildDisk(sysfsRoot, join(dir, disk.path), disk);
  }

  for (const device of host.virtualBlock ?? []) {
    const dir = join(sysfsRoot, 'devices/virtual/block', device.name);
    await buildBlockDevice(sysfsRoot, dir, device);
    if (device.dm) await writeFiles(join(dir, 'dm'), { name: `${device.dm.name}\n`, uuid: `${device.dm.uuid}\n` });
    if (device.mdLevel) await writeFiles(join(dir, 'md'), { level: `${device.mdLevel}\n` });
    await link(join(sysfsRoot, 'class/block', device.name), dir);
  }

  for (const netInterface of host.net ?? []) {
    const dir = netInterface.pciAddress
      ? join(sysfsRoot, 'bus/pci/devices', netInterface.pciAddress, 'net', netInterface.name)
      : join(sysfsRoot, 'devices/virtual/net', netInterface.name);
    await writeFiles(dir, { ifindex: '2\n' });
    if (netInterface.pciAddress) await link(join(dir, 'device'), join(sysfsRoot, 'bus/pci/devices', netInterface.pciAddress));
    await link(join(sysfsRoot, 'class/net', netInterface.name), dir);
  }
  for (const netInterface of host.net ?? []) {
    for (const lower of netInterface.lower ?? []) {
      await link(join(sysfsRoot, 'class/net', netInterface.name, `lower_${lower}`), join(sysfsRoot, 'class/net', lower));
    }
  }

  for (const entry of host.usb) {
    const dir = join(sysfsRoot, 'bus/usb/devices', entry.name);
    await writeFiles(
      dir,
      Object.fromEntries(Object.entries(entry.attributes).map(([name, value]) => [name, `${value}\n`])),
    );
    if (entry.driver) await link(join(dir, 'driver'), join(sysfsRoot, 'bus/usb/drivers', entry.driver));
  }

  const cpuinfo = Array.from({ length: host.cpus }, (_, n) => `processor\t: ${n}\nvendor_id\t: GenuineIntel\n`).join('\n');
  await writeFiles(procRoot, {
    cpuinfo,
    meminfo: `MemTotal:       ${host.memTotalKb} kB\nMemFree:         1234567 kB\n`,
    swaps: `${host.swaps.join('\n')}\n`,
  });
  await writeFiles(join(procRoot, 'self'), { mountinfo: `${host.mountinfo.join('\n')}\n` });
  await writeFiles(join(procRoot, 'net'), {
    route: `${['Iface\tDestination\tGateway \tFlags\tRefCnt\tUse\tMetric\tMask\t\tMTU\tWindow\tIRTT', ...(host.routes ?? [])].join('\n')}\n`,
    ipv6_route: (host.ipv6Routes ?? []).map((line) => `${line}\n`).join(''),
  });

  const idsDir = join(base, 'ids');
  await writeFiles(idsDir, { 'pci.ids': PCI_IDS, 'usb.ids': USB_IDS, '20-pci-vendor-model.hwdb': PCI_HWDB, '20-usb-vendor-model.hwdb': USB_HWDB });

  const read = async (path: string) => {
    try {
      return await readFile(join(sysfsRoot, path), 'utf8');
    } catch {
      return null;
    }
  };
  return {
    sysfsRoot,
    procRoot,
    stateDir: join(base, 'state'),
    idsPaths: {
      pci: [join(idsDir, 'pci.ids')],
      usb: [join(idsDir, 'usb.ids')],
      pciHwdb: [join(idsDir, '20-pci-vendor-model.hwdb')],
      usbHwdb: [join(idsDir, '20-usb-vendor-model.hwdb')],
    },
    read,
    writableAttributes: async () => Object.fromEntries(await Promise.all(writable.map(async (path) => [path, await read(path)]))),
    remove: () => rm(base, { recursive: true, force: true }),
  };
}
