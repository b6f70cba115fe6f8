import { symlink, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { LinuxBackend } from '../../agent/backends/linux/index.ts';
import { buildHost, standardHost, type BuiltHost } from '../agent-linux/fixture-sysfs.ts';

const built: BuiltHost[] = [];
afterEach(async () => {
  await Promise.all(built.splice(0).map((host) => host.remove()));
});

describe('linux backend observe', () => {
  it("reads each device's driver and presence the way discovery does, for the outcome of an operation", async () => {
    const host = await buildHost(standardHost());
    built.push(host);
    const backend = new LinuxBackend({ sysfsRoot: host.sysfsRoot, procRoot: host.procRoot, idsPaths: host.idsPaths, stateDir: host.stateDir });
    // The kernel has bound the GPU to vfio-pci; its audio function is unbound.
    const gpuDriver = join(host.sysfsRoot, 'bus/pci/devices/0000:65:00.0/driver');
    await unlink(gpuDriver);
    await symlink('../../drivers/vfio-pci', gpuDriver);
    await unlink(join(host.sysfsRoot, 'bus/pci/devices/0000:65:00.1/driver'));

    const observed = await backend.observe([
      { kind: 'GPU', address: '0000:65:00.0', vendorId: '10de', productId: '2204' },
      { kind: 'PCI', address: '0000:65:00.1', vendorId: '10de', productId: '1aef' },
      { kind: 'NVME', address: '0000:09:00.0', vendorId: '144d', productId: 'a80a' },
      { kind: 'USB', address: '1-1.4', vendorId: '046d', productId: 'c31c' },
    ]);

    expect(observed).toEqual([
      { address: '0000:65:00.0', driver: 'vfio-pci', present: true },
      { address: '0000:65:00.1', driver: null, present: true },
      { address: '0000:09:00.0', driver: null, present: false },
      { address: '1-1.4', driver: (await backend.inventory()).find((d) => d.address === '1-1.4')!.driver, present: true },
    ]);
  });
});
