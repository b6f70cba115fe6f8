import { symlink, unlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import type { HostdevRef } from '../../agent/backend.ts';
import { LinuxBackend } from '../../agent/backends/linux/index.ts';
import { buildHost, standardHost, type BuiltHost, type HostFixture } from './fixture-sysfs.ts';

const built: BuiltHost[] = [];
afterEach(async () => {
  await Promise.all(built.splice(0).map((host) => host.remove()));
});

async function setUp(fixture: HostFixture = standardHost()) {
  const host = await buildHost(fixture);
  built.push(host);
  const backend = () =>
    new LinuxBackend({ sysfsRoot: host.sysfsRoot, procRoot: host.procRoot, idsPaths: host.idsPaths, stateDir: host.stateDir });
  return { host, backend: backend(), restartedBackend: backend };
}

const GPU: HostdevRef = { kind: 'GPU', address: '0000:65:00.0', vendorId: '10de', productId: '2204' };
const GPU_AUDIO: HostdevRef = { kind: 'PCI', address: '0000:65:00.1', vendorId: '10de', productId: '1aef' };
const ROOT_NVME: HostdevRef = { kind: 'NVME', address: '0000:03:00.0', vendorId: '144d', productId: 'a80a' };
const FREE_NVME: HostdevRef = { kind: 'NVME', address: '0000:04:00.0', vendorId: '144d', productId: 'a80a' };
const KEYBOARD: HostdevRef = { kind: 'USB', address: '1-1.4', vendorId: '046d', productId: 'c31c' };

/** What the kernel would do after drivers_probe with driver_override=vfio-pci (or after a bind). */
async function kernelBinds(host: BuiltHost, address: string, driver: string | null): Promise<void> {
  const link = join(host.sysfsRoot, 'bus/pci/devices', address, 'driver');
  await unlink(link).catch(() => {});
  if (driver) await symlink(`../../drivers/${driver}`, link);
}

describe('linux backend detach', () => {
  it('sets driver_override, unbinds from the current driver and asks the kernel to probe', async () => {
    const { host, backend } = await setUp();
    await backend.detach([GPU]);
    expect(await host.read('bus/pci/devices/0000:65:00.0/driver_override')).toBe('vfio-pci');
    expect(await host.read('bus/pci/drivers/nvidia/unbind')).toBe('0000:65:00.0');
    expect(await host.read('bus/pci/drivers_probe')).toBe('0000:65:00.0');
  });

  it('binds each function of an IOMMU group it is given', async () => {
    const { host, backend } = await setUp();
    await backend.detach([GPU, GPU_AUDIO]);
    expect(await host.read('bus/pci/devices/0000:65:00.1/driver_override')).toBe('vfio-pci');
    expect(await host.read('bus/pci/drivers/snd_hda_intel/unbind')).toBe('0000:65:00.1');
  });

  it('does not unbind a function no driver holds', async () => {
    const { host, backend } = await setUp();
    await kernelBinds(host, GPU.address, null);
    await backend.detach([GPU]);
    expect(await host.read('bus/pci/devices/0000:65:00.0/driver_override')).toBe('vfio-pci');
    expect(await host.read('bus/pci/drivers/nvidia/unbind')).toBe('');
    expect(await host.read('bus/pci/drivers_probe')).toBe('0000:65:00.0');
  });

  it('leaves a function already bound to vfio-pci alone', async () => {
    const { host, backend } = await setUp();
    await kernelBinds(host, GPU.address, 'vfio-pci');
    const before = await host.writableAttributes();
    await backend.detach([GPU]);
    expect(await host.writableAttributes()).toEqual(before);
  });

  it('does nothing for a USB device, which libvirt passes through without rebinding', async () => {
    const { host, backend } = await setUp();
    const before = await host.writableAttributes();
    await backend.detach([KEYBOARD]);
    await backend.attach([KEYBOARD]);
    expect(await host.writableAttributes()).toEqual(before);
  });

  it('refuses with the IOMMU off and writes nothing', async () => {
    const fixture = standardHost();
    fixture.iommu = false;
    const { host, backend } = await setUp(fixture);
    const before = await host.writableAttributes();
    await expect(backend.detach([GPU])).rejects.toThrow(/IOMMU is off on this host .*intel_iommu=on.*0000:65:00\.0/);
    expect(await host.writableAttributes()).toEqual(before);
  });

  it('still lets USB devices through with the IOMMU off', async () => {
    const fixture = standardHost();
    fixture.iommu = false;
    const { backend } = await setUp(fixture);
    await expect(backend.detach([KEYBOARD])).resolves.toBeUndefined();
  });

  it('refuses when vfio-pci is not loaded', async () => {
    const fixture = standardHost();
    fixture.loadedPciDrivers = [];
    const { host, backend } = await setUp(fixture);
    const before = await host.writableAttributes();
    await expect(backend.detach([GPU])).rejects.toThrow('modprobe vfio-pci');
    expect(await host.writableAttributes()).toEqual(before);
  });

  it('refuses an address that is not on the host, or not a PCI address', async () => {
    const { backend } = await setUp();
    await expect(backend.detach([{ ...GPU, address: '0000:66:00.0' }])).rejects.toThrow(
      /PCI device 0000:66:00\.0 is not present under .*bus\/pci\/devices/,
    );
    await expect(backend.detach([{ ...GPU, address: '../../../etc' }])).rejects.toThrow('is not a PCI address');
  });

  it("refuses to detach the host's root disk, naming the partition and mount point", async () => {
    const { host, backend } = await setUp();
    const before = await host.writableAttributes();
    await expect(backend.detach([ROOT_NVME])).rejects.toThrow(
      "NVMe 0000:03:00.0 (nvme0n1p1) is mounted at /boot/efi; unmount it before detaching. " +
        "NVMe 0000:03:00.0 (nvme0n1p2) is mounted at /; refusing to detach the host's root disk",
    );
    expect(await host.writableAttributes()).toEqual(before);
  });

  it('checks every device before writing anything: a refused NVMe keeps the GPU on its driver', async () => {
    const { host, backend } = await setUp();
    const before = await host.writableAttributes();
    await expect(backend.detach([GPU, ROOT_NVME])).rejects.toThrow('root disk');
    expect(await host.writableAttributes()).toEqual(before);
  });

  it('detaches an NVMe drive the host does not use', async () => {
    const { host, backend } = await setUp();
    await backend.detach([FREE_NVME]);
    expect(await host.read('bus/pci/devices/0000:04:00.0/driver_override')).toBe('vfio-pci');
    expect(await host.read('bus/pci/drivers/nvme/unbind')).toBe('0000:04:00.0');
  });

  it('finds a mount by device number when the source is shown as /dev/root', async () => {
    const fixture = standardHost();
    fixture.mountinfo = ['26 1 259:4 / / rw,relatime shared:1 - ext4 /dev/root rw'];
    const { backend } = await setUp(fixture);
    await expect(backend.detach([FREE_NVME])).rejects.toThrow('NVMe 0000:04:00.0 (nvme1n1p1) is mounted at /;');
  });

  it('finds a mount by source when the device number is anonymous (btrfs)', async () => {
    const fixture = standardHost();
    fixture.mountinfo = ['30 1 0:31 /@data /srv/my\\040data rw,relatime shared:5 - btrfs /dev/nvme1n1p1 rw,subvol=/@data'];
    const { backend } = await setUp(fixture);
    await expect(backend.detach([FREE_NVME])).rejects.toThrow(
      'NVMe 0000:04:00.0 (nvme1n1p1) is mounted at /srv/my data; unmount it before detaching',
    );
  });

  it('refuses a drive that holds LVM, MD or dm-crypt', async () => {
    const fixture = standardHost();
    fixture.pci[4]!.nvme!.namespaces[0]!.partitions![0]!.holders = ['dm-0'];
    const { backend } = await setUp(fixture);
    await expect(backend.detach([FREE_NVME])).rejects.toThrow('NVMe 0000:04:00.0 (nvme1n1p1) backs dm-0 (LVM, RAID or dm-crypt); stop it before detaching');
  });

  it('refuses a drive with active swap', async () => {
    const fixture = standardHost();
    fixture.swaps.push('/dev/nvme1n1\tpartition\t8388604\t0\t-2');
    const { backend } = await setUp(fixture);
    await expect(backend.detach([FREE_NVME])).rejects.toThrow('NVMe 0000:04:00.0 (nvme1n1) is in use as swap');
  });

  it('follows a multipath namespace (nvme1c1n1) to its disk nvme1n1', async () => {
    const fixture = standardHost();
    fixture.pci[4]!.nvme!.namespaces = [{ name: 'nvme1c1n1', dev: '259:3', partitions: [{ name: 'nvme1n1p1', dev: '259:4' }] }];
    fixture.mountinfo.push('40 26 259:4 / /var/lib/images rw,relatime shared:9 - xfs /dev/nvme1n1p1 rw');
    const { backend } = await setUp(fixture);
    await expect(backend.detach([FREE_NVME])).rejects.toThrow('NVMe 0000:04:00.0 (nvme1n1p1) is mounted at /var/lib/images');
  });
});

describe('linux backend attach', () => {
  it('clears the override, unbinds from vfio-pci and binds the remembered driver, even after an agent restart', async () => {
    const { host, backend, restartedBackend } = await setUp();
    await backend.detach([GPU]);
    await kernelBinds(host, GPU.address, 'vfio-pci');

    await restartedBackend().attach([GPU]);
    expect(await host.read('bus/pci/devices/0000:65:00.0/driver_override')).toBe('\n');
    expect(await host.read('bus/pci/drivers/vfio-pci/unbind')).toBe('0000:65:00.0');
    expect(await host.read('bus/pci/drivers/nvidia/bind')).toBe('0000:65:00.0');
  });

  it('asks the kernel to probe when the original driver is unknown', async () => {
    const { host, backend } = await setUp();
    await kernelBinds(host, GPU.address, 'vfio-pci');
    await writeFile(join(host.sysfsRoot, 'bus/pci/devices/0000:65:00.0/driver_override'), 'vfio-pci\n');
    await backend.attach([GPU]);
    expect(await host.read('bus/pci/drivers/vfio-pci/unbind')).toBe('0000:65:00.0');
    expect(await host.read('bus/pci/drivers_probe')).toBe('0000:65:00.0');
    expect(await host.read('bus/pci/drivers/nvidia/bind')).toBe('');
  });

  it('asks the kernel to probe when the original driver is no longer loaded', async () => {
    const { host, backend } = await setUp();
    await backend.detach([GPU]);
    await kernelBinds(host, GPU.address, 'vfio-pci');
    await writeFile(join(host.sysfsRoot, 'bus/pci/drivers_probe'), '');
    await unlink(join(host.sysfsRoot, 'bus/pci/drivers/nvidia/bind'));
    await backend.attach([GPU]);
    expect(await host.read('bus/pci/drivers_probe')).toBe('0000:65:00.0');
  });

  it('forgets the original driver once the device is back, so a later attach probes', async () => {
    const { host, backend } = await setUp();
    await backend.detach([GPU]);
    await kernelBinds(host, GPU.address, 'vfio-pci');
    await backend.attach([GPU]);
    await kernelBinds(host, GPU.address, 'vfio-pci');
    await writeFile(join(host.sysfsRoot, 'bus/pci/drivers/nvidia/bind'), '');
    await backend.attach([GPU]);
    expect(await host.read('bus/pci/drivers/nvidia/bind')).toBe('');
  });

  it('leaves a device that is already on a host driver alone', async () => {
    const { host, backend } = await setUp();
    const before = await host.writableAttributes();
    await backend.attach([GPU, GPU_AUDIO]);
    expect(await host.writableAttributes()).toEqual(before);
  });

  it('clears a stale override on a device still on its driver (agent died between override and unbind)', async () => {
    const { host, backend } = await setUp();
    await writeFile(join(host.sysfsRoot, 'bus/pci/devices/0000:65:00.0/driver_override'), 'vfio-pci\n');
    await backend.attach([GPU]);
    expect(await host.read('bus/pci/devices/0000:65:00.0/driver_override')).toBe('\n');
    expect(await host.read('bus/pci/drivers/nvidia/bind')).toBe('');
  });

  it('finishes an attach that died after the unbind: binds the remembered driver', async () => {
    const { host, backend } = await setUp();
    await backend.detach([GPU]);
    await kernelBinds(host, GPU.address, null);
    await backend.attach([GPU]);
    expect(await host.read('bus/pci/drivers/vfio-pci/unbind')).toBe('');
    expect(await host.read('bus/pci/drivers/nvidia/bind')).toBe('0000:65:00.0');
  });
});

describe('linux backend driver memory', () => {
  it('keeps every original driver when devices are detached concurrently', async () => {
    const { host, backend, restartedBackend } = await setUp();
    await Promise.all([backend.detach([GPU]), backend.detach([GPU_AUDIO]), backend.detach([FREE_NVME])]);
    for (const device of [GPU, GPU_AUDIO, FREE_NVME]) await kernelBinds(host, device.address, 'vfio-pci');
    await restartedBackend().attach([GPU, GPU_AUDIO, FREE_NVME]);
    expect(await host.read('bus/pci/drivers/nvidia/bind')).toBe('0000:65:00.0');
    expect(await host.read('bus/pci/drivers/snd_hda_intel/bind')).toBe('0000:65:00.1');
    expect(await host.read('bus/pci/drivers/nvme/bind')).toBe('0000:04:00.0');
  });
});
