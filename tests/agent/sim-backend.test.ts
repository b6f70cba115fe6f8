import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it, vi } from 'vitest';
import type { HostdevRef } from '../../agent/backend.ts';
import { parseSimConfig, SimBackend, SimConfigError, type SimHostConfig } from '../../agent/backends/sim/index.ts';

const GPU_HOST: SimHostConfig = {
  name: 'gpu-node-1',
  numaNodes: 2,
  gpus: [{ model: 'rtx-3090', count: 4 }],
  usb: [{ model: 'logitech-unifying' }, { model: 'sandisk-ultra-fit' }],
  nvme: [{ model: 'samsung-pm9a3', count: 2, inUseBy: 'the root filesystem (/)' }],
  latencyMs: 0,
};

function ref(device: { kind: string; address: string; vendorId: string; productId: string }): HostdevRef {
  return { kind: device.kind as HostdevRef['kind'], address: device.address, vendorId: device.vendorId, productId: device.productId };
}

async function gpuGroup(sim: SimBackend, index = 0) {
  const devices = await sim.inventory();
  const gpu = devices.filter((d) => d.kind === 'GPU')[index]!;
  return devices.filter((d) => d.iommuGroup === gpu.iommuGroup).map(ref);
}

const dirs: string[] = [];
afterEach(() => {
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});

describe('simulated hardware', () => {
  it('reports real IDs and names, each GPU with an HDMI audio function in its IOMMU group, spread over NUMA nodes', async () => {
    const devices = await new SimBackend(GPU_HOST).inventory();
    const gpus = devices.filter((d) => d.kind === 'GPU');
    expect(gpus).toHaveLength(4);
    expect(gpus[0]).toMatchObject({
      vendorId: '10de',
      productId: '2204',
      vendorName: 'NVIDIA Corporation',
      productName: 'GA102 [GeForce RTX 3090]',
      driver: 'nvidia',
    });
    expect(gpus.map((g) => g.numaNode)).toEqual([0, 0, 1, 1]);
    for (const gpu of gpus) {
      const audio = devices.find((d) => d.address === gpu.address.replace(/\.0$/, '.1'))!;
      expect(audio).toMatchObject({ kind: 'PCI', vendorId: '10de', productId: '1aef', iommuGroup: gpu.iommuGroup, numaNode: gpu.numaNode, driver: 'snd_hda_intel' });
    }
    expect(new Set(gpus.map((g) => g.iommuGroup)).size).toBe(4);
    expect(devices.filter((d) => d.kind === 'USB').map((d) => [d.address, d.vendorId, d.productId, d.productName])).toEqual([
      ['1-1', '046d', 'c52b', 'Unifying Receiver'],
      ['1-2', '0781', '5583', 'Ultra Fit'],
    ]);
    const nvme = devices.filter((d) => d.kind === 'NVME');
    expect(nvme.map((d) => d.productName)).toEqual(['NVMe SSD Controller PM9A1/PM9A3/980PRO', 'NVMe SSD Controller PM9A1/PM9A3/980PRO']);
    expect(nvme.every((d) => /^S64FNE0R[0-9A-Z]{6}$/.test(d.serial ?? ''))).toBe(true);
    expect(new Set(devices.map((d) => d.address)).size).toBe(devices.length);
  });

  it('is deterministic: the same config gives the same devices and serials; another host name other serials', async () => {
    const a = await new SimBackend(GPU_HOST).inventory();
    const b = await new SimBackend(GPU_HOST).inventory();
    const c = await new SimBackend({ ...GPU_HOST, name: 'gpu-node-2' }).inventory();
    expect(b).toEqual(a);
    expect(c.map((d) => d.address)).toEqual(a.map((d) => d.address));
    expect(c.find((d) => d.kind === 'NVME')!.serial).not.toBe(a.find((d) => d.kind === 'NVME')!.serial);
  });

  it('datacenter GPUs have no audio function; pooled ones boot on vfio-pci', async () => {
    const devices = await new SimBackend({ gpus: [{ model: 'a100-80g', count: 2, pooled: true }, { model: 'mi210' }], latencyMs: 0 }).inventory();
    expect(devices.map((d) => [d.productName, d.driver])).toEqual([
      ['GA100 [A100 PCIe 80GB]', 'vfio-pci'],
      ['GA100 [A100 PCIe 80GB]', 'vfio-pci'],
      ['Aldebaran/MI200 [Instinct MI210]', 'amdgpu'],
    ]);
  });

  it('rejects a config with a clear message naming the field', () => {
    expect(() => parseSimConfig({ gpus: [{ model: 'rtx-9090' }] })).toThrow(SimConfigError);
    expect(() => parseSimConfig({ gpus: [{ model: 'rtx-9090' }] })).toThrow(/gpus\[0\]\.model must be one of rtx-3090/);
    expect(() => parseSimConfig({ faults: [{ operation: 'DETACH', effect: 'explode' }] })).toThrow(/faults\[0\]\.effect/);
    expect(() => parseSimConfig({ gpu: [] })).toThrow(/gpu is not a known field/);
    expect(parseSimConfig({ faults: [{ operation: 'DETACH', effect: 'die' }] }).faults![0]).toMatchObject({ operation: 'detach', effect: 'die', phase: 'after', times: 1 });
  });
});

describe('bindings and domains', () => {
  it('detach binds the whole group to vfio-pci and attach gives each function its own driver back; both idempotent', async () => {
    const sim = new SimBackend(GPU_HOST);
    const group = await gpuGroup(sim);
    await sim.detach(group);
    await sim.detach(group);
    expect(group.map((d) => sim.device(d.address)!.driver)).toEqual(['vfio-pci', 'vfio-pci']);
    await sim.attach(group);
    await sim.attach(group);
    expect(group.map((d) => sim.device(d.address)!.driver)).toEqual(['nvidia', 'snd_hda_intel']);
  });

  it('reports what on the host holds a device (inUse) in its inventory: the root NVMe, and nothing else', async () => {
    const devices = await new SimBackend(GPU_HOST).inventory();
    expect(devices.filter((d) => d.inUse !== null).map((d) => [d.address, d.inUse])).toEqual([['0000:01:00.0', 'the root filesystem (/)']]);
  });

  it('refuses to detach an NVMe drive the host uses, and changes nothing', async () => {
    const sim = new SimBackend(GPU_HOST);
    const devices = await sim.inventory();
    const [boot] = devices.filter((d) => d.kind === 'NVME');
    const gpu = devices.find((d) => d.kind === 'GPU')!;
    await expect(sim.detach([ref(gpu), ref(boot!)])).rejects.toThrow(/NVMe 0000:01:00.0 holds the root filesystem/);
    expect(sim.device(gpu.address)!.driver).toBe('nvidia');
  });

  it('refuses to detach when the IOMMU is off', async () => {
    const sim = new SimBackend({ ...GPU_HOST, iommuEnabled: false });
    await expect(sim.detach(await gpuGroup(sim))).rejects.toThrow(/IOMMU is off/);
  });

  it('provisions a VM only with GPUs on vfio-pci whose whole group is pooled', async () => {
    const sim = new SimBackend(GPU_HOST);
    const [gpu, audio] = await gpuGroup(sim);
    const spec = { name: 'vm-1', cores: 8, memoryMb: 32768, diskGb: 100, devices: [gpu!] };
    await expect(sim.provisionVm(spec)).rejects.toThrow(/bound to nvidia, not vfio-pci; detach it into the pool first/);
    await sim.detach([gpu!]);
    await expect(sim.provisionVm(spec)).rejects.toThrow(/IOMMU group \d+ is not viable: 0000:17:00.1 is bound to snd_hda_intel/);
    await sim.detach([audio!]);
    await sim.provisionVm(spec);
    await sim.provisionVm(spec);
    expect(sim.domain('vm-1')).toEqual({ name: 'vm-1', cores: 8, memoryMb: 32768, diskGb: 100, devices: [gpu!.address], running: true });
  });

  it('never gives one device to two domains', async () => {
    const sim = new SimBackend(GPU_HOST);
    const group = await gpuGroup(sim);
    await sim.detach(group);
    await sim.provisionVm({ name: 'vm-a', cores: 2, memoryMb: 4096, diskGb: 0, devices: [] });
    await sim.provisionVm({ name: 'vm-b', cores: 2, memoryMb: 4096, diskGb: 0, devices: [] });
    await sim.assignDevice('vm-a', group[0]!);
    await sim.assignDevice('vm-a', group[0]!);
    await expect(sim.assignDevice('vm-b', group[0]!)).rejects.toThrow(/already passed through to VM vm-a/);
    await expect(sim.attach(group)).rejects.toThrow(/passed through to VM vm-a; release it first/);
    expect(sim.domain('vm-a')!.devices).toEqual([group[0]!.address]);
    await sim.releaseDevice('vm-a', group[0]!);
    await sim.releaseDevice('vm-a', group[0]!);
    await sim.assignDevice('vm-b', group[0]!);
    expect(sim.domain('vm-b')!.devices).toEqual([group[0]!.address]);
  });

  it('never gives the functions of one IOMMU group to two domains, as VFIO would not', async () => {
    const sim = new SimBackend(GPU_HOST);
    const group = await gpuGroup(sim);
    await sim.detach(group);
    await sim.provisionVm({ name: 'vm-a', cores: 2, memoryMb: 4096, diskGb: 0, devices: [group[0]!] });
    await sim.provisionVm({ name: 'vm-b', cores: 2, memoryMb: 4096, diskGb: 0, devices: [] });
    await expect(sim.assignDevice('vm-b', group[1]!)).rejects.toThrow(/IOMMU group \d+ is in use by VM vm-a \(0000:17:00\.0\)/);
    await expect(sim.provisionVm({ name: 'vm-c', cores: 2, memoryMb: 4096, diskGb: 0, devices: [group[1]!] })).rejects.toThrow(/is in use by VM vm-a/);
    await sim.assignDevice('vm-a', group[1]!);
    expect(sim.domain('vm-a')!.devices).toEqual([group[0]!.address, group[1]!.address]);
  });

  it('USB devices pass through without rebinding', async () => {
    const sim = new SimBackend(GPU_HOST);
    const usb = (await sim.inventory()).find((d) => d.kind === 'USB')!;
    await sim.detach([ref(usb)]);
    expect(sim.device(usb.address)!.driver).toBe('usb');
    await sim.provisionVm({ name: 'vm-usb', cores: 1, memoryMb: 1024, diskGb: 0, devices: [ref(usb)] });
    expect(sim.domain('vm-usb')!.devices).toEqual([usb.address]);
  });

  it('vms() lists the domains as libvirt would: power state and passthrough addresses, through provision, assign, release, stop and teardown', async () => {
    const sim = new SimBackend(GPU_HOST);
    expect(await sim.vms()).toEqual([]);
    const group = await gpuGroup(sim);
    const usb = (await sim.inventory()).filter((d) => d.kind === 'USB').map(ref);
    await sim.detach(group);
    await sim.provisionVm({ name: 'vm-b', cores: 2, memoryMb: 4096, diskGb: 0, devices: [group[0]!] });
    await sim.provisionVm({ name: 'vm-a', cores: 2, memoryMb: 4096, diskGb: 0, devices: [] });
    expect(await sim.vms()).toEqual([
      { name: 'vm-a', running: true, deviceAddresses: [] },
      { name: 'vm-b', running: true, deviceAddresses: ['0000:17:00.0'] },
    ]);
    await sim.assignDevice('vm-a', usb[0]!);
    await sim.assignDevice('vm-b', group[1]!);
    await sim.stopVm('vm-a');
    expect(await sim.vms()).toEqual([
      { name: 'vm-a', running: false, deviceAddresses: ['1-1'] },
      { name: 'vm-b', running: true, deviceAddresses: ['0000:17:00.0', '0000:17:00.1'] },
    ]);
    await sim.releaseDevice('vm-b', group[0]!);
    await sim.teardownVm('vm-a');
    expect(await sim.vms()).toEqual([{ name: 'vm-b', running: true, deviceAddresses: ['0000:17:00.1'] }]);
    expect(await sim.vms()).toEqual(await sim.vms());
  });

  it('vms() keeps a pulled PCI device (libvirt names it by address) but not a pulled USB device (named by ids, it maps to no port)', async () => {
    const sim = new SimBackend(GPU_HOST);
    const group = await gpuGroup(sim);
    const usb = (await sim.inventory()).find((d) => d.kind === 'USB')!;
    await sim.detach(group);
    await sim.provisionVm({ name: 'vm-1', cores: 2, memoryMb: 4096, diskGb: 0, devices: [group[0]!, ref(usb)] });
    sim.removeDevice(group[0]!.address);
    sim.removeDevice(usb.address);
    expect(await sim.vms()).toEqual([{ name: 'vm-1', running: true, deviceAddresses: [group[0]!.address] }]);
    sim.plugDevice(usb.address);
    expect(await sim.vms()).toEqual([{ name: 'vm-1', running: true, deviceAddresses: [group[0]!.address, usb.address] }]);
  });

  it('teardown, start and stop are idempotent; unknown domains are reported', async () => {
    const sim = new SimBackend(GPU_HOST);
    await sim.provisionVm({ name: 'vm-1', cores: 2, memoryMb: 2048, diskGb: 10, devices: [] });
    await sim.stopVm('vm-1');
    await sim.stopVm('vm-1');
    expect(sim.domain('vm-1')!.running).toBe(false);
    await sim.startVm('vm-1');
    await sim.startVm('vm-1');
    expect(sim.domain('vm-1')!.running).toBe(true);
    await sim.teardownVm('vm-1');
    await sim.teardownVm('vm-1');
    expect(sim.domain('vm-1')).toBeNull();
    await expect(sim.startVm('vm-1')).rejects.toThrow('VM vm-1 is not defined on this host');
  });
});

describe('faults', () => {
  it('fails the next N calls of one type and changes nothing', async () => {
    const sim = new SimBackend({ ...GPU_HOST, faults: [{ operation: 'DETACH', times: 2, message: 'vfio-pci: probe of 0000:17:00.0 failed with error -22' }] });
    const group = await gpuGroup(sim);
    await expect(sim.detach(group)).rejects.toThrow('vfio-pci: probe of 0000:17:00.0 failed with error -22');
    await expect(sim.detach(group)).rejects.toThrow(/probe/);
    expect(sim.device(group[0]!.address)!.driver).toBe('nvidia');
    await sim.detach(group);
    expect(sim.device(group[0]!.address)!.driver).toBe('vfio-pci');
    expect(sim.callCount('detach')).toBe(3);
  });

  it('a vms fault fails the domain listing alone', async () => {
    const sim = new SimBackend({ ...GPU_HOST, faults: [{ operation: 'vms', message: 'failed to connect to the hypervisor' }] });
    await expect(sim.vms()).rejects.toThrow('failed to connect to the hypervisor');
    expect(await sim.inventory()).toHaveLength(12);
    expect(await sim.vms()).toEqual([]);
    expect(sim.callCount('vms')).toBe(2);
  });

  it('fails with a probability from a seeded generator, so runs repeat', async () => {
    const outcomes = async () => {
      const sim = new SimBackend({ ...GPU_HOST, seed: 42, faults: [{ operation: 'startVm', probability: 0.5 }] });
      await sim.provisionVm({ name: 'vm', cores: 1, memoryMb: 1024, diskGb: 0, devices: [] });
      const results: boolean[] = [];
      for (let i = 0; i < 20; i++) results.push(await sim.startVm('vm').then(() => true, () => false));
      return results;
    };
    const first = await outcomes();
    expect(await outcomes()).toEqual(first);
    expect(first.filter(Boolean).length).toBeGreaterThan(3);
    expect(first.filter((ok) => !ok).length).toBeGreaterThan(3);
  });

  it('"die" after the change: the host changed, the call never returns, onDie is told', async () => {
    const onDie = vi.fn();
    const sim = new SimBackend({ ...GPU_HOST }, { onDie });
    sim.injectFault({ operation: 'DETACH', effect: 'die' });
    const group = await gpuGroup(sim);
    let returned = false;
    void sim.detach(group).then(() => (returned = true));
    await vi.waitFor(() => expect(onDie).toHaveBeenCalledWith({ operation: 'detach', phase: 'after' }));
    expect(sim.device(group[0]!.address)!.driver).toBe('vfio-pci');
    await new Promise((resolve) => setTimeout(resolve, 20));
    expect(returned).toBe(false);
  });

  it('"die" before the change leaves the host as it was', async () => {
    const onDie = vi.fn();
    const sim = new SimBackend({ ...GPU_HOST, faults: [{ operation: 'detach', effect: 'die', phase: 'before' }] }, { onDie });
    const group = await gpuGroup(sim);
    void sim.detach(group);
    await vi.waitFor(() => expect(onDie).toHaveBeenCalled());
    expect(sim.device(group[0]!.address)!.driver).toBe('nvidia');
  });

  it('latency delays each call', async () => {
    const sim = new SimBackend({ ...GPU_HOST, latencyMs: { detach: 60 } });
    const started = performance.now();
    await sim.detach(await gpuGroup(sim));
    expect(performance.now() - started).toBeGreaterThanOrEqual(55);
  });
});

describe('hot-plug and persistence', () => {
  it('a removed device is absent from the next inventory; plugged back it returns with its identity', async () => {
    const sim = new SimBackend(GPU_HOST);
    const changes = vi.fn();
    sim.onInventoryChange(changes);
    const drive = (await sim.inventory()).filter((d) => d.kind === 'NVME')[1]!;
    sim.removeDevice(drive.address);
    expect((await sim.inventory()).some((d) => d.address === drive.address)).toBe(false);
    sim.plugDevice(drive.address, '0000:0a:00.0');
    const moved = (await sim.inventory()).find((d) => d.serial === drive.serial)!;
    expect(moved.address).toBe('0000:0a:00.0');
    expect(changes).toHaveBeenCalledTimes(2);
    expect(() => sim.removeDevice('9-9')).toThrow('No device at 9-9');
  });

  it('a new device appears on its host driver', async () => {
    const sim = new SimBackend(GPU_HOST);
    sim.addDevice({ kind: 'USB', address: '2-1', vendorId: '1050', productId: '0407', vendorName: 'Yubico.com', productName: 'Yubikey 4/5 OTP+U2F+CCID', serial: null, iommuGroup: null, numaNode: null, hostDriver: 'usb' });
    expect((await sim.inventory()).find((d) => d.address === '2-1')).toMatchObject({ driver: 'usb', productId: '0407' });
  });

  it('with a state file, bindings, domains and removals survive a new process', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'passthru-sim-'));
    dirs.push(dir);
    const config = { ...GPU_HOST, stateFile: join(dir, 'host.json') };
    const first = new SimBackend(config);
    const group = await gpuGroup(first);
    await first.detach(group);
    await first.provisionVm({ name: 'vm-1', cores: 4, memoryMb: 8192, diskGb: 20, devices: [group[0]!] });
    first.removeDevice('1-2');

    const second = new SimBackend(config);
    expect(second.device(group[0]!.address)!.driver).toBe('vfio-pci');
    expect(second.domain('vm-1')!.devices).toEqual([group[0]!.address]);
    expect(second.device('1-2')).toBeNull();
    second.plugDevice('1-2');
    expect(second.device('1-2')).not.toBeNull();
  });
});
