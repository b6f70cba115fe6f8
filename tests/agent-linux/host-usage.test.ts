// The in-use guard: the agent refuses to detach a PCI function the host itself uses, whatever
// the controller (NVMe, virtio-blk, SATA/SAS HBA), through LVM, RAID and dm-crypt stacks, and
// the NIC that carries the default route, directly or under a bridge or bond. A refusal names
// the device, the disk or interface and what to undo, and writes nothing.

import { afterEach, describe, expect, it } from 'vitest';
import type { HostdevRef } from '../../agent/backend.ts';
import { LinuxBackend } from '../../agent/backends/linux/index.ts';
import { buildHost, standardHost, type BuiltHost, type HostFixture, type PciFunctionFixture } from './fixture-sysfs.ts';

const built: BuiltHost[] = [];
afterEach(async () => {
  await Promise.all(built.splice(0).map((host) => host.remove()));
});

async function setUp(fixture: HostFixture) {
  const host = await buildHost(fixture);
  built.push(host);
  const backend = new LinuxBackend({ sysfsRoot: host.sysfsRoot, procRoot: host.procRoot, idsPaths: host.idsPaths, stateDir: host.stateDir });
  return { host, backend };
}

/** Expects detach to be refused with exactly `message` and to leave every sysfs attribute as it was. */
async function expectRefused(fixture: HostFixture, device: HostdevRef, message: string) {
  const { host, backend } = await setUp(fixture);
  const before = await host.writableAttributes();
  await expect(backend.detach([device])).rejects.toThrow(message);
  expect(await host.writableAttributes()).toEqual(before);
}

const VIRTIO_BLK: PciFunctionFixture = {
  address: '0000:00:05.0', classCode: '0x010000', vendor: '0x1af4', device: '0x1042', iommuGroup: 20, driver: 'virtio-pci',
  disks: [{ path: 'virtio2/block/vda', name: 'vda', dev: '254:0', partitions: [{ name: 'vda1', dev: '254:1' }, { name: 'vda2', dev: '254:2' }] }],
};
const AHCI: PciFunctionFixture = {
  address: '0000:00:17.0', classCode: '0x010601', vendor: '0x8086', device: '0xa352', iommuGroup: 21, driver: 'ahci',
  disks: [
    {
      path: 'ata1/host0/target0:0:0/0:0:0:0/block/sda', name: 'sda', dev: '8:0',
      partitions: [{ name: 'sda1', dev: '8:1' }, { name: 'sda2', dev: '8:2' }, { name: 'sda3', dev: '8:3' }],
    },
  ],
};
const SAS_HBA: PciFunctionFixture = {
  address: '0000:3b:00.0', classCode: '0x010700', vendor: '0x1000', device: '0x00e6', iommuGroup: 22, driver: 'mpt3sas',
  disks: [
    { path: 'host1/port-1:0/end_device-1:0/target1:0:0/1:0:0:0/block/sdb', name: 'sdb', dev: '8:16' },
    { path: 'host1/port-1:1/end_device-1:1/target1:0:1/1:0:1:0/block/sdc', name: 'sdc', dev: '8:32' },
  ],
};
const NIC: PciFunctionFixture = { address: '0000:05:00.0', classCode: '0x020000', vendor: '0x8086', device: '0x1533', iommuGroup: 16, driver: 'igb' };
const SECOND_NIC: PciFunctionFixture = { address: '0000:06:00.0', classCode: '0x020000', vendor: '0x8086', device: '0x1533', iommuGroup: 17, driver: 'igb' };

const ref = (fn: PciFunctionFixture, kind: HostdevRef['kind'] = 'PCI'): HostdevRef => ({
  kind, address: fn.address, vendorId: fn.vendor.slice(2), productId: fn.device.slice(2),
});

function hostWith(...functions: PciFunctionFixture[]): HostFixture {
  const host = standardHost();
  // Copies: a test that adds holders changes its own host only.
  host.pci = [...host.pci.filter((fn) => fn.address !== NIC.address), ...structuredClone(functions)];
  host.mountinfo = host.mountinfo.filter((line) => !line.includes('nvme'));
  return host;
}

const ROUTE_VIA = (name: string) => `${name}\t00000000\t0101A8C0\t0003\t0\t0\t100\t00000000\t0\t0\t0`;

describe('in-use guard: block devices on any controller', () => {
  it('refuses a virtio-blk disk holding the root filesystem', async () => {
    const host = hostWith(VIRTIO_BLK);
    host.mountinfo.push('26 1 254:2 / / rw,relatime shared:1 - ext4 /dev/vda2 rw');
    await expectRefused(host, ref(VIRTIO_BLK), "PCI device 0000:00:05.0 (vda2) is mounted at /; refusing to detach the host's root disk");
  });

  it('refuses a SATA controller whose disk, found through /sys/class/block ancestry, is swap and mounted', async () => {
    const host = hostWith(AHCI);
    host.mountinfo.push('27 26 8:1 / /boot rw,relatime shared:3 - ext4 /dev/sda1 rw');
    host.swaps.push('/dev/sda2\tpartition\t8388604\t0\t-2');
    await expectRefused(
      host,
      ref(AHCI),
      'PCI device 0000:00:17.0 (sda1) is mounted at /boot; unmount it before detaching. PCI device 0000:00:17.0 (sda2) is in use as swap; swapoff it before detaching',
    );
  });

  it('refuses a SAS HBA whose whole disk is mounted', async () => {
    const host = hostWith(SAS_HBA);
    host.mountinfo.push('40 26 8:32 / /var/lib/libvirt rw,relatime shared:9 - xfs /dev/sdc rw');
    await expectRefused(host, ref(SAS_HBA), 'PCI device 0000:3b:00.0 (sdc) is mounted at /var/lib/libvirt; unmount it before detaching');
  });

  it('refuses a disk that backs the root LVM volume, naming the volume', async () => {
    const host = hostWith(AHCI);
    host.pci.at(-1)!.disks![0]!.partitions![2]!.holders = ['dm-0'];
    host.virtualBlock = [{ name: 'dm-0', dev: '253:0', dm: { name: 'vg0-root', uuid: 'LVM-abc' } }];
    host.mountinfo.push('26 1 253:0 / / rw,relatime shared:1 - ext4 /dev/mapper/vg0-root rw');
    await expectRefused(
      host,
      ref(AHCI),
      "PCI device 0000:00:17.0 (sda3) backs dm-0 (LVM volume vg0-root), which is mounted at /; refusing to detach the host's root disk",
    );
  });

  it('refuses RAID members of a mounted array', async () => {
    const host = hostWith(SAS_HBA);
    host.pci.at(-1)!.disks![0]!.holders = ['md0'];
    host.pci.at(-1)!.disks![1]!.holders = ['md0'];
    host.virtualBlock = [{ name: 'md0', dev: '9:0', mdLevel: 'raid1' }];
    host.mountinfo.push('41 26 9:0 / /srv rw,relatime shared:10 - ext4 /dev/md0 rw');
    await expectRefused(
      host,
      ref(SAS_HBA),
      'PCI device 0000:3b:00.0 (sdb) backs md0 (RAID1 array), which is mounted at /srv; unmount it before detaching. ' +
        'PCI device 0000:3b:00.0 (sdc) backs md0 (RAID1 array), which is mounted at /srv; unmount it before detaching',
    );
  });

  it('follows a stack up to its mount: dm-crypt on LVM, used as swap', async () => {
    const host = hostWith(VIRTIO_BLK);
    host.pci.at(-1)!.disks![0]!.partitions![1]!.holders = ['dm-0'];
    host.virtualBlock = [
      { name: 'dm-0', dev: '253:0', dm: { name: 'vg0-swap', uuid: 'LVM-def' }, holders: ['dm-1'] },
      { name: 'dm-1', dev: '253:1', dm: { name: 'cryptswap', uuid: 'CRYPT-PLAIN-cryptswap' } },
    ];
    host.swaps.push('/dev/dm-1\tpartition\t8388604\t0\t-2');
    await expectRefused(
      host,
      ref(VIRTIO_BLK),
      'PCI device 0000:00:05.0 (vda2) backs dm-0 (LVM volume vg0-swap), which backs dm-1 (dm-crypt volume cryptswap), which is in use as swap; swapoff it before detaching',
    );
  });

  it('refuses an LVM member even when none of its volumes is mounted: the volume group would lose it', async () => {
    const host = hostWith(AHCI);
    host.pci.at(-1)!.disks![0]!.partitions![2]!.holders = ['dm-0'];
    host.virtualBlock = [{ name: 'dm-0', dev: '253:0', dm: { name: 'vg1-images', uuid: 'LVM-ghi' } }];
    await expectRefused(host, ref(AHCI), 'PCI device 0000:00:17.0 (sda3) backs dm-0 (LVM volume vg1-images); stop it before detaching');
  });

  it('detaches a storage controller whose disks the host does not use', async () => {
    const { host, backend } = await setUp(hostWith(SAS_HBA));
    await backend.detach([ref(SAS_HBA)]);
    expect(await host.read('bus/pci/devices/0000:3b:00.0/driver_override')).toBe('vfio-pci');
  });
});

describe('in-use guard: the NIC carrying the default route', () => {
  it('refuses the NIC the IPv4 default route leaves through', async () => {
    const host = hostWith(NIC, SECOND_NIC);
    host.net = [{ name: 'eno1', pciAddress: NIC.address }, { name: 'eno2', pciAddress: SECOND_NIC.address }];
    host.routes = [ROUTE_VIA('eno1'), 'eno2\t0002A8C0\t00000000\t0001\t0\t0\t0\t00FFFFFF\t0\t0\t0'];
    await expectRefused(host, ref(NIC), "PCI device 0000:05:00.0 (eno1) carries the host's default route; refusing to cut the host off the network");
  });

  it('refuses the NIC under the bridge the default route leaves through (br0 on eno1)', async () => {
    const host = hostWith(NIC);
    host.net = [{ name: 'eno1', pciAddress: NIC.address }, { name: 'br0', lower: ['eno1'] }];
    host.routes = [ROUTE_VIA('br0')];
    await expectRefused(host, ref(NIC), "PCI device 0000:05:00.0 (eno1) carries the host's default route (through br0); refusing to cut the host off the network");
  });

  it('refuses a bond slave under a VLAN carrying the IPv6 default route', async () => {
    const host = hostWith(NIC, SECOND_NIC);
    host.net = [
      { name: 'eno1', pciAddress: NIC.address },
      { name: 'eno2', pciAddress: SECOND_NIC.address },
      { name: 'bond0', lower: ['eno1', 'eno2'] },
      { name: 'bond0.100', lower: ['bond0'] },
    ];
    host.ipv6Routes = ['00000000000000000000000000000000 00 00000000000000000000000000000000 00 fe800000000000000000000000000001 00000400 00000001 00000000 00000003 bond0.100'];
    await expectRefused(
      host,
      ref(SECOND_NIC),
      "PCI device 0000:06:00.0 (eno2) carries the host's default route (through bond0.100); refusing to cut the host off the network",
    );
  });

  it('detaches a NIC no default route uses', async () => {
    const host = hostWith(NIC, SECOND_NIC);
    host.net = [{ name: 'eno1', pciAddress: NIC.address }, { name: 'eno2', pciAddress: SECOND_NIC.address }];
    host.routes = [ROUTE_VIA('eno1')];
    host.ipv6Routes = ['00000000000000000000000000000000 00 00000000000000000000000000000000 00 00000000000000000000000000000000 ffffffff 00000001 00000000 00200200 lo'];
    const { host: built, backend } = await setUp(host);
    await backend.detach([ref(SECOND_NIC)]);
    expect(await built.read('bus/pci/devices/0000:06:00.0/driver_override')).toBe('vfio-pci');
  });
});
