import { pino } from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import type { DiscoveredDevice } from '../../agent/backend.ts';
import { LinuxBackend } from '../../agent/backends/linux/index.ts';
import { buildHost, standardHost, type BuiltHost, type HostFixture } from './fixture-sysfs.ts';

const NO_DATABASES = {
  pci: ['/nonexistent/pci.ids'],
  usb: ['/nonexistent/usb.ids'],
  pciHwdb: ['/nonexistent/20-pci-vendor-model.hwdb'],
  usbHwdb: ['/nonexistent/20-usb-vendor-model.hwdb'],
};
const NOT_PCI = { classCode: null, subsystemVendorId: null, subsystemProductId: null, revision: null };

const built: BuiltHost[] = [];
afterEach(async () => {
  await Promise.all(built.splice(0).map((host) => host.remove()));
});

async function backendFor(fixture: HostFixture, options: { withIds?: boolean } = {}) {
  const host = await buildHost(fixture);
  built.push(host);
  const idsPaths = options.withIds === false ? NO_DATABASES : host.idsPaths;
  return new LinuxBackend({ sysfsRoot: host.sysfsRoot, procRoot: host.procRoot, idsPaths, stateDir: host.stateDir });
}

function byAddress(devices: DiscoveredDevice[], address: string): DiscoveredDevice {
  const device = devices.find((d) => d.address === address);
  if (!device) throw new Error(`${address} not discovered; got ${devices.map((d) => d.address).join(', ')}`);
  return device;
}

describe('linux backend discovery', () => {
  it('reports every PCI function and USB device of the standard host, with names', async () => {
    const devices = await (await backendFor(standardHost())).inventory();
    expect(devices).toEqual([
      {
        kind: 'NVME', address: '0000:03:00.0', vendorId: '144d', productId: 'a80a',
        vendorName: 'Samsung Electronics Co Ltd', productName: 'NVMe SSD Controller PM9A1/PM9A3/980PRO',
        classCode: '010802', subsystemVendorId: null, subsystemProductId: null, revision: null,
        serial: 'S69ENF0R100001', iommuGroup: 14, numaNode: 0, driver: 'nvme',
        inUse: "nvme0n1p1 is mounted at /boot/efi; unmount it before detaching. nvme0n1p2 is mounted at /; refusing to detach the host's root disk",
      },
      {
        kind: 'NVME', address: '0000:04:00.0', vendorId: '144d', productId: 'a80a',
        vendorName: 'Samsung Electronics Co Ltd', productName: 'NVMe SSD Controller PM9A1/PM9A3/980PRO',
        classCode: '010802', subsystemVendorId: null, subsystemProductId: null, revision: null,
        serial: 'S69ENF0R200002', iommuGroup: 15, numaNode: 0, driver: 'nvme',
        inUse: null,
      },
      {
        kind: 'PCI', address: '0000:05:00.0', vendorId: '8086', productId: '1533',
        vendorName: 'Intel Corporation', productName: 'I210 Gigabit Network Connection',
        classCode: '020000', subsystemVendorId: null, subsystemProductId: null, revision: null,
        serial: null, iommuGroup: 16, numaNode: null, driver: 'igb',
        inUse: null,
      },
      {
        kind: 'GPU', address: '0000:65:00.0', vendorId: '10de', productId: '2204',
        vendorName: 'NVIDIA Corporation', productName: 'GA102 [GeForce RTX 3090]',
        classCode: '030000', subsystemVendorId: '1043', subsystemProductId: '87b5', revision: 'a1',
        serial: null, iommuGroup: 42, numaNode: 1, driver: 'nvidia',
        inUse: null,
      },
      {
        kind: 'PCI', address: '0000:65:00.1', vendorId: '10de', productId: '1aef',
        vendorName: 'NVIDIA Corporation', productName: 'GA102 High Definition Audio Controller',
        classCode: '040300', subsystemVendorId: null, subsystemProductId: null, revision: null,
        serial: null, iommuGroup: 42, numaNode: 1, driver: 'snd_hda_intel',
        inUse: null,
      },
      {
        kind: 'USB', address: '1-1.4', vendorId: '046d', productId: 'c31c',
        vendorName: 'Logitech, Inc.', productName: 'Keyboard K120',
        ...NOT_PCI,
        serial: 'KB-0042', iommuGroup: null, numaNode: null, driver: 'usb',
        inUse: null,
      },
    ]);
  });

  it('reports what on the host holds a device (inUse): every mount, swap and holder of its disks; null for a free one', async () => {
    const host = standardHost();
    host.swaps.push('/dev/nvme1n1p1                          partition\t8388604\t\t0\t\t-2');
    const devices = await (await backendFor(host)).inventory();
    expect(byAddress(devices, '0000:03:00.0').inUse).toBe("nvme0n1p1 is mounted at /boot/efi; unmount it before detaching. nvme0n1p2 is mounted at /; refusing to detach the host's root disk");
    expect(byAddress(devices, '0000:04:00.0').inUse).toBe('nvme1n1p1 is in use as swap; swapoff it before detaching');
    expect(byAddress(devices, '0000:65:00.0').inUse).toBeNull();
  });

  it('skips PCI bridges (class 0x06xxxx)', async () => {
    const devices = await (await backendFor(standardHost())).inventory();
    expect(devices.map((d) => d.address)).not.toContain('0000:00:01.0');
  });

  it('classifies every display class as GPU, only 0x010802 as NVMe, the rest as PCI', async () => {
    const host = standardHost();
    host.pci = [
      { address: '0000:17:00.0', classCode: '0x030200', vendor: '0x10de', device: '0x20b0' }, // 3D controller (A100)
      { address: '0000:18:00.0', classCode: '0x038000', vendor: '0x1002', device: '0x740c' }, // display controller (MI250)
      { address: '0000:19:00.0', classCode: '0x010601', vendor: '0x8086', device: '0xa352' }, // AHCI: storage, not NVMe
      { address: '0000:1a:00.0', classCode: '0x010802', vendor: '0x144d', device: '0xa80a' },
    ];
    const kinds = (await (await backendFor(host)).inventory()).filter((d) => d.kind !== 'USB').map((d) => d.kind);
    expect(kinds).toEqual(['GPU', 'GPU', 'PCI', 'NVME']);
  });

  it('reports null for an absent IOMMU group, a -1 NUMA node and an unbound function', async () => {
    const host = standardHost();
    host.iommu = false;
    host.pci = [{ address: '0000:05:00.0', classCode: '0x020000', vendor: '0x8086', device: '0x1533' }];
    const nic = byAddress(await (await backendFor(host)).inventory(), '0000:05:00.0');
    expect(nic).toMatchObject({ iommuGroup: null, numaNode: null, driver: null });
  });

  it('reads an NVMe serial through a multipath controller as well', async () => {
    const host = standardHost();
    host.pci = [
      {
        address: '0000:1a:00.0', classCode: '0x010802', vendor: '0x144d', device: '0xa80a', driver: 'nvme',
        nvme: { controller: 'nvme3', serial: '  PHLJ9999  ', namespaces: [{ name: 'nvme3c3n1', dev: '259:9' }] },
      },
    ];
    expect(byAddress(await (await backendFor(host)).inventory(), '0000:1a:00.0').serial).toBe('PHLJ9999');
  });

  it('lists USB devices only: no root hubs, hubs or interfaces', async () => {
    const usb = (await (await backendFor(standardHost())).inventory()).filter((d) => d.kind === 'USB');
    expect(usb.map((d) => d.address)).toEqual(['1-1.4']);
  });

  it('reports a USB device without a serial attribute with serial null', async () => {
    const host = standardHost();
    host.usb = [{ name: '3-2', attributes: { idVendor: '046d', idProduct: 'c31c', bDeviceClass: '00' } }];
    expect(await (await backendFor(host)).inventory()).toContainEqual(
      expect.objectContaining({ address: '3-2', serial: null, driver: null, productName: 'Keyboard K120' }),
    );
  });

  it('reports IDs alone when no pci.ids / usb.ids is installed', async () => {
    const devices = await (await backendFor(standardHost(), { withIds: false })).inventory();
    expect(byAddress(devices, '0000:65:00.0')).toMatchObject({ vendorId: '10de', productId: '2204', vendorName: null, productName: null });
    expect(byAddress(devices, '1-1.4')).toMatchObject({ vendorId: '046d', vendorName: null, productName: null });
  });
});

describe('device names, as lspci and lsusb give them', () => {
  it('names a PCI device pci.ids lacks from the udev hwdb, as lspci does (H100 SXM5)', async () => {
    const host = standardHost();
    host.pci = [{ address: '0000:17:00.0', classCode: '0x030200', vendor: '0x10de', device: '0x2330' }];
    expect(byAddress(await (await backendFor(host)).inventory(), '0000:17:00.0')).toMatchObject({
      vendorName: 'NVIDIA Corporation',
      productName: 'GH100 [H100 SXM5 80GB]',
    });
  });

  it('takes a PCI name from pci.ids before the hwdb when both have it, as lspci does', async () => {
    const gpu = byAddress(await (await backendFor(standardHost())).inventory(), '0000:65:00.0');
    expect(gpu.productName).toBe('GA102 [GeForce RTX 3090]');
  });

  it('names a PCI vendor pci.ids lacks from the hwdb', async () => {
    const host = standardHost();
    host.pci = [{ address: '0000:00:05.0', classCode: '0x010802', vendor: '0x1d0f', device: '0x8061' }];
    expect(byAddress(await (await backendFor(host)).inventory(), '0000:00:05.0')).toMatchObject({ vendorName: 'Amazon.com, Inc.', productName: null });
  });

  it('names USB devices from the hwdb, not usb.ids, as lsusb does', async () => {
    const host = standardHost();
    // 046d:c52b is in usb.ids but not in the hwdb: lsusb prints no name from usb.ids for it.
    host.usb = [{ name: '3-2', attributes: { idVendor: '046d', idProduct: 'c52b', bDeviceClass: '00' } }];
    expect(byAddress(await (await backendFor(host)).inventory(), '3-2')).toMatchObject({ vendorName: 'Logitech, Inc.', productName: null });
  });

  it("falls back to a USB device's own manufacturer and product strings for what the hwdb lacks, as lsusb does", async () => {
    const host = standardHost();
    host.usb = [
      { name: '3-2', attributes: { idVendor: '046d', idProduct: 'c52b', bDeviceClass: '00', manufacturer: 'Logitech', product: 'USB Receiver' } },
      { name: '3-3', attributes: { idVendor: '1209', idProduct: '0001', bDeviceClass: '00', manufacturer: 'pid.codes', product: 'Test PID' } },
    ];
    const devices = await (await backendFor(host)).inventory();
    expect(byAddress(devices, '3-2')).toMatchObject({ vendorName: 'Logitech, Inc.', productName: 'USB Receiver' });
    expect(byAddress(devices, '3-3')).toMatchObject({ vendorName: 'pid.codes', productName: 'Test PID' });
  });

  it('reads usb.ids only on a host without the udev hwdb', async () => {
    const fixture = standardHost();
    fixture.usb = [{ name: '3-2', attributes: { idVendor: '046d', idProduct: 'c52b', bDeviceClass: '00' } }];
    const host = await buildHost(fixture);
    built.push(host);
    const idsPaths = { ...host.idsPaths, usbHwdb: ['/nonexistent/20-usb-vendor-model.hwdb'] };
    const backend = new LinuxBackend({ sysfsRoot: host.sysfsRoot, procRoot: host.procRoot, idsPaths, stateDir: host.stateDir });
    expect(byAddress(await backend.inventory(), '3-2')).toMatchObject({ vendorName: 'Logitech, Inc.', productName: 'Unifying Receiver' });
  });

  it('reports the class code, subsystem vendor and device, and revision of a PCI function from sysfs', async () => {
    expect(byAddress(await (await backendFor(standardHost())).inventory(), '0000:65:00.0')).toMatchObject({
      classCode: '030000',
      subsystemVendorId: '1043',
      subsystemProductId: '87b5',
      revision: 'a1',
    });
  });
});

describe('linux backend facts', () => {
  it("takes the agent's pino logger", async () => {
    const host = await buildHost(standardHost());
    built.push(host);
    const backend = new LinuxBackend({ sysfsRoot: host.sysfsRoot, procRoot: host.procRoot, logger: pino({ enabled: false }) });
    expect((await backend.facts()).cpuCores).toBe(8);
  });

  it('counts processors and MemTotal from procfs and sees the IOMMU groups', async () => {
    expect(await (await backendFor(standardHost())).facts()).toEqual({ cpuCores: 8, memoryMb: 64252, iommuEnabled: true });
  });

  it('reports the IOMMU off when /sys/kernel/iommu_groups is empty', async () => {
    const host = standardHost();
    host.iommu = false;
    expect((await (await backendFor(host)).facts()).iommuEnabled).toBe(false);
  });

  it('reports the IOMMU off when /sys/kernel/iommu_groups does not exist', async () => {
    const host = await buildHost(standardHost());
    built.push(host);
    const backend = new LinuxBackend({ sysfsRoot: '/nonexistent', procRoot: host.procRoot });
    expect((await backend.facts()).iommuEnabled).toBe(false);
  });
});
