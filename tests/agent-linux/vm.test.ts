import { afterAll, describe, expect, it } from 'vitest';
import type { HostdevRef, VmSpec } from '../../agent/backend.ts';
import { LinuxBackend, type LinuxBackendOptions } from '../../agent/backends/linux/index.ts';
import { hasHostdev } from '../../agent/backends/linux/domain-xml.ts';
import { fakeVirsh, NO_VIRSH, virshInstalled, type FakeVirsh, type ScriptedAnswer } from './fake-virsh.ts';
import { buildHost, standardHost, type BuiltHost } from './fixture-sysfs.ts';

const GPU: HostdevRef = { kind: 'GPU', address: '0000:65:00.0', vendorId: '10de', productId: '2204' };
const GPU_AUDIO: HostdevRef = { kind: 'PCI', address: '0000:65:00.1', vendorId: '10de', productId: '1aef' };
const KEYBOARD: HostdevRef = { kind: 'USB', address: '1-1.4', vendorId: '046d', productId: 'c31c' };
const VM: VmSpec = { name: 'ml-train-01', cores: 4, memoryMb: 8192, diskGb: 0, devices: [GPU, GPU_AUDIO, KEYBOARD] };

// Each test has its own fake virsh and sysfs tree, so the tests run concurrently: most of
// their time is spent starting virsh processes.
const cleanups: Array<() => Promise<void>> = [];
afterAll(async () => {
  await Promise.all(cleanups.splice(0).map((cleanup) => cleanup()));
});

interface Setup {
  virsh: FakeVirsh;
  host: BuiltHost;
  backend: LinuxBackend;
  warnings: string[];
}

async function setUp(
  responses: Record<string, ScriptedAnswer> = {},
  virshOptions: LinuxBackendOptions['virsh'] = {},
  host: BuiltHost | null = null,
): Promise<Setup> {
  const virsh = await fakeVirsh(responses);
  const sysfs = host ?? (await buildHost(standardHost()));
  cleanups.push(virsh.remove, sysfs.remove);
  const warnings: string[] = [];
  const backend = new LinuxBackend({
    sysfsRoot: sysfs.sysfsRoot,
    procRoot: sysfs.procRoot,
    idsPaths: sysfs.idsPaths,
    stateDir: sysfs.stateDir,
    virsh: { binary: virsh.binary, uri: 'test:///default', domainType: 'test', ...virshOptions },
    logger: { info: () => {}, warn: (_fields, message) => warnings.push(message), error: () => {} },
  });
  return { virsh, host: sysfs, backend, warnings };
}

const state = (virsh: FakeVirsh, name: string) => virsh.run('domstate', name).trim();
const definedDomains = (virsh: FakeVirsh) => virsh.run('list', '--all', '--name').split('\n').filter(Boolean);

const LIFECYCLE = `linux backend VM lifecycle on libvirt's test driver${virshInstalled ? '' : ` (skipped: ${NO_VIRSH})`}`;

describe.skipIf(!virshInstalled)(LIFECYCLE, { concurrent: true }, () => {
  it('provisions a running VM with its hostdevs', async () => {
    const { virsh, backend } = await setUp();
    await backend.provisionVm(VM);
    expect(state(virsh, VM.name)).toBe('running');
    const dumped = virsh.run('dumpxml', VM.name);
    for (const device of VM.devices) expect(hasHostdev(dumped, device)).toBe(true);
  });

  it('provisions again without failing or restarting (a replayed operation)', async () => {
    const { virsh, backend } = await setUp();
    await backend.provisionVm(VM);
    await backend.provisionVm(VM);
    expect(state(virsh, VM.name)).toBe('running');
    expect((await virsh.commands()).filter((command) => command === 'start')).toHaveLength(1);
  });

  it('starts a defined VM that a crashed provision left shut off', async () => {
    const { virsh, backend } = await setUp();
    await backend.provisionVm(VM);
    await backend.stopVm(VM.name);
    await backend.provisionVm(VM);
    expect(state(virsh, VM.name)).toBe('running');
  });

  it('stops with an ACPI shutdown and starts again, each idempotent', async () => {
    const { virsh, backend } = await setUp();
    await backend.provisionVm(VM);
    await backend.stopVm(VM.name);
    await backend.stopVm(VM.name);
    expect(state(virsh, VM.name)).toBe('shut off');
    await backend.startVm(VM.name);
    await backend.startVm(VM.name);
    expect(state(virsh, VM.name)).toBe('running');
    const commands = await virsh.commands();
    expect(commands.filter((command) => command === 'shutdown')).toHaveLength(1);
    expect(commands).not.toContain('destroy');
  });

  it('tears a VM down, and tearing it down again (or one never defined) succeeds', async () => {
    const { virsh, backend } = await setUp();
    await backend.provisionVm(VM);
    await backend.teardownVm(VM.name);
    await backend.teardownVm(VM.name);
    await backend.teardownVm('never-defined');
    expect(definedDomains(virsh)).not.toContain(VM.name);
  });

  it('tears down a VM that is already shut off without destroying it', async () => {
    const { virsh, backend } = await setUp();
    await backend.provisionVm(VM);
    await backend.stopVm(VM.name);
    await backend.teardownVm(VM.name);
    expect(definedDomains(virsh)).not.toContain(VM.name);
    expect(await virsh.commands()).not.toContain('destroy');
  });

  it('creates the disk volume once in the storage pool and deletes it at teardown', async () => {
    const { virsh, backend } = await setUp({}, { storagePool: 'default-pool' });
    await backend.provisionVm({ ...VM, diskGb: 20 });
    await backend.provisionVm({ ...VM, diskGb: 20 });
    expect(virsh.run('vol-list', 'default-pool')).toContain('ml-train-01.qcow2');
    expect(virsh.run('dumpxml', VM.name)).toContain("<source pool='default-pool' volume='ml-train-01.qcow2'/>");
    expect((await virsh.commands()).filter((command) => command === 'vol-create-as')).toHaveLength(1);
    await backend.teardownVm(VM.name);
    expect(virsh.run('vol-list', 'default-pool')).not.toContain('ml-train-01.qcow2');
  });

  it('warns and defines the VM without a disk when no storage pool is configured', async () => {
    const { virsh, backend, warnings } = await setUp();
    await backend.provisionVm({ ...VM, diskGb: 20 });
    expect(virsh.run('dumpxml', VM.name)).not.toContain('<disk');
    expect(warnings).toEqual(['no storage pool configured; defining the VM without a disk']);
  });

  it('lists the domains with their power state and passthrough devices by inventory address, reading only', async () => {
    const { virsh, backend } = await setUp();
    // libvirt's test driver starts with one running domain of its own, named `test`.
    expect(await backend.vms()).toEqual([{ name: 'test', running: true, deviceAddresses: [] }]);
    await backend.provisionVm(VM);
    const provisioned = { name: VM.name, running: true, deviceAddresses: [GPU.address, GPU_AUDIO.address, KEYBOARD.address] };
    expect(await backend.vms()).toEqual([provisioned, { name: 'test', running: true, deviceAddresses: [] }]);
    await backend.stopVm(VM.name);
    expect((await backend.vms())[0]).toEqual({ ...provisioned, running: false });
    await backend.teardownVm(VM.name);
    expect((await backend.vms()).map((vm) => vm.name)).toEqual(['test']);
    const commands = await virsh.commands();
    const listing = commands.slice(commands.lastIndexOf('undefine') + 1);
    expect(new Set(listing)).toEqual(new Set(['list', 'dumpxml']));
  });

  it('refuses to start or stop a VM that is not defined', async () => {
    const { backend } = await setUp();
    await expect(backend.startVm('ghost')).rejects.toThrow('VM ghost is not defined on this host (test:///default)');
    await expect(backend.stopVm('ghost')).rejects.toThrow('VM ghost is not defined on this host');
  });
});

// libvirt's test driver has no attach-device/detach-device, so these answer from a script.
const RUNNING: ScriptedAnswer = { stdout: 'running\n\n' };
const SHUT_OFF: ScriptedAnswer = { stdout: 'shut off\n\n' };
const WITHOUT_DEVICES: ScriptedAnswer = { stdout: "<domain type='kvm'><name>vm</name><devices></devices></domain>" };
const withDevices = (...xml: string[]): ScriptedAnswer => ({
  stdout: `<domain type='kvm'><name>vm</name><devices>${xml.join('')}</devices></domain>`,
});
const GPU_HOSTDEV = "<hostdev mode='subsystem' type='pci' managed='no'><source><address domain='0x0000' bus='0x65' slot='0x00' function='0x0'/></source></hostdev>";

async function deviceCalls(virsh: FakeVirsh) {
  return (await virsh.calls()).filter((call) => ['attach-device', 'detach-device'].includes(call.argv[2]!));
}

describe.concurrent('linux backend hot-plug', () => {
  it('attaches to a running VM live and in its persistent definition', async () => {
    const { virsh, backend } = await setUp({ domstate: RUNNING, dumpxml: WITHOUT_DEVICES, 'attach-device': {} });
    await backend.assignDevice('vm', GPU);
    const [call, ...others] = await deviceCalls(virsh);
    expect(others).toEqual([]);
    expect(call!.argv).toEqual(['-c', 'test:///default', 'attach-device', 'vm', expect.stringMatching(/\.xml$/), '--live', '--config']);
    expect(call!.files).toEqual([GPU_HOSTDEV]);
  });

  it('attaches only where the device is missing (a replay after a partial attach)', async () => {
    const { virsh, backend } = await setUp({
      domstate: RUNNING,
      'dumpxml vm': WITHOUT_DEVICES,
      'dumpxml --inactive vm': withDevices(GPU_HOSTDEV),
      'attach-device': {},
    });
    await backend.assignDevice('vm', GPU);
    expect((await deviceCalls(virsh)).map((call) => call.argv.slice(5))).toEqual([['--live']]);
  });

  it('does not attach a device the VM already has', async () => {
    const { virsh, backend } = await setUp({ domstate: RUNNING, dumpxml: withDevices(GPU_HOSTDEV) });
    await backend.assignDevice('vm', GPU);
    expect(await deviceCalls(virsh)).toEqual([]);
  });

  it('attaches to a shut-off VM in its definition only', async () => {
    const { virsh, backend } = await setUp({ domstate: SHUT_OFF, dumpxml: WITHOUT_DEVICES, 'attach-device': {} });
    await backend.assignDevice('vm', GPU);
    expect((await deviceCalls(virsh)).map((call) => call.argv.slice(5))).toEqual([['--config']]);
    expect((await virsh.calls()).some((call) => call.argv.join(' ').endsWith('dumpxml vm'))).toBe(false);
  });

  it('detaches from a running VM live and from its definition', async () => {
    const { virsh, backend } = await setUp({ domstate: RUNNING, dumpxml: withDevices(GPU_HOSTDEV), 'detach-device': {} });
    await backend.releaseDevice('vm', GPU);
    const [call] = await deviceCalls(virsh);
    expect(call!.argv.slice(2, 4)).toEqual(['detach-device', 'vm']);
    expect(call!.argv.slice(5)).toEqual(['--live', '--config']);
    expect(call!.files).toEqual([GPU_HOSTDEV]);
  });

  it('detaches from a shut-off VM definition only, and not at all when the device is gone', async () => {
    const first = await setUp({ domstate: SHUT_OFF, dumpxml: withDevices(GPU_HOSTDEV), 'detach-device': {} });
    await first.backend.releaseDevice('vm', GPU);
    expect((await deviceCalls(first.virsh)).map((call) => call.argv.slice(5))).toEqual([['--config']]);

    const second = await setUp({ domstate: RUNNING, dumpxml: WITHOUT_DEVICES });
    await second.backend.releaseDevice('vm', GPU);
    expect(await deviceCalls(second.virsh)).toEqual([]);
  });

  it('pins a USB device by bus/device number when the host has an identical one', async () => {
    const fixture = standardHost();
    fixture.usb.push({
      name: '1-1.2',
      attributes: { idVendor: '046d', idProduct: 'c31c', bDeviceClass: '00', busnum: '1', devnum: '3' },
    });
    const { virsh, backend } = await setUp({ domstate: RUNNING, dumpxml: WITHOUT_DEVICES, 'attach-device': {} }, {}, await buildHost(fixture));
    await backend.assignDevice('vm', KEYBOARD);
    expect((await deviceCalls(virsh))[0]!.files[0]).toContain("<product id='0xc31c'/><address bus='1' device='5'/>");
  });

  it('names a unique USB device by its ids alone', async () => {
    const { virsh, backend } = await setUp({ domstate: RUNNING, dumpxml: WITHOUT_DEVICES, 'attach-device': {} });
    await backend.assignDevice('vm', KEYBOARD);
    expect((await deviceCalls(virsh))[0]!.files[0]).not.toContain('<address');
  });
});

describe.concurrent('linux backend domain listing', () => {
  const UUID = '3f0c9d1e-0000-4000-8000-00000000000a';
  const OTHER = '3f0c9d1e-0000-4000-8000-00000000000b';
  const keyboardHostdev = (address = '') =>
    `<hostdev mode='subsystem' type='usb' managed='yes'><source><vendor id='0x046d'/><product id='0xc31c'/>${address}</source></hostdev>`;
  const domain = (name: string, ...xml: string[]): ScriptedAnswer => ({
    stdout: `<domain type='kvm'><name>${name}</name><devices>${xml.join('')}</devices></domain>`,
  });

  it('maps a USB hostdev to the port of the device with its ids, by bus/device number when several share them', async () => {
    const fixture = standardHost();
    fixture.usb.push({ name: '1-1.2', attributes: { idVendor: '046d', idProduct: 'c31c', bDeviceClass: '00', busnum: '1', devnum: '3' } });
    const { backend, warnings } = await setUp(
      {
        'list --all --uuid': { stdout: `${UUID}\n${OTHER}\n\n` },
        'list --uuid': { stdout: `${OTHER}\n\n` },
        [`dumpxml ${UUID}`]: domain('pinned', GPU_HOSTDEV, keyboardHostdev("<address bus='1' device='3'/>"), keyboardHostdev()),
        [`dumpxml ${OTHER}`]: domain('by-address', "<hostdev mode='subsystem' type='usb'><source><address bus='1' device='5'/></source></hostdev>"),
      },
      {},
      await buildHost(fixture),
    );
    expect(await backend.vms()).toEqual([
      { name: 'by-address', running: true, deviceAddresses: ['1-1.4'] },
      // The unpinned keyboard hostdev could be either keyboard: left out, with a warning.
      { name: 'pinned', running: false, deviceAddresses: [GPU.address, '1-1.2'] },
    ]);
    expect(warnings).toEqual(['a USB hostdev of this VM matches no single device on the host; leaving it out of the report']);
  });

  it('names a unique USB device by its ids alone, and leaves out one that is unplugged', async () => {
    const { backend, warnings } = await setUp({
      'list --all --uuid': { stdout: `${UUID}\n` },
      'list --uuid': { stdout: `${UUID}\n` },
      dumpxml: domain('vm', keyboardHostdev(), "<hostdev mode='subsystem' type='usb'><source><vendor id='0x0781'/><product id='0x5583'/></source></hostdev>"),
    });
    expect(await backend.vms()).toEqual([{ name: 'vm', running: true, deviceAddresses: [KEYBOARD.address] }]);
    expect(warnings).toHaveLength(1);
  });

  it('skips a domain undefined since it was listed, and fails when libvirt cannot list', async () => {
    const { backend } = await setUp({
      'list --all --uuid': { stdout: `${UUID}\n${OTHER}\n` },
      'list --uuid': { stdout: '' },
      [`dumpxml ${UUID}`]: { stderr: `error: failed to get domain '${UUID}'\n`, code: 1 },
      [`dumpxml ${OTHER}`]: domain('still-here'),
    });
    expect(await backend.vms()).toEqual([{ name: 'still-here', running: false, deviceAddresses: [] }]);

    const down = await setUp({ list: { stderr: "error: failed to connect to the hypervisor\nerror: Failed to connect socket to '/var/run/libvirt/libvirt-sock'\n", code: 1 } });
    await expect(down.backend.vms()).rejects.toThrow('virsh list --all --uuid: failed to connect to the hypervisor');
  });
});

describe.concurrent('linux backend virsh use', () => {
  it('forces a VM off when the guest ignores the ACPI shutdown', async () => {
    const { virsh, backend, warnings } = await setUp({ domstate: RUNNING, shutdown: {}, destroy: {} }, { shutdownTimeoutMs: 0 });
    await backend.stopVm('vm');
    expect((await virsh.commands()).filter((command) => command !== 'domstate')).toEqual(['shutdown', 'destroy']);
    expect(warnings).toEqual(['guest ignored ACPI shutdown; forcing it off']);
  });

  it("passes the configured URI, untranslated messages, and reports virsh's own error", async () => {
    const { virsh, backend } = await setUp(
      {
        domstate: SHUT_OFF,
        start: { stderr: "error: Failed to start domain 'vm'\nerror: Requested operation is not valid: PCI device 0000:65:00.0 is in use\n", code: 1 },
      },
      { uri: 'qemu+ssh://kvm-07/system' },
    );
    await expect(backend.startVm('vm')).rejects.toThrow(
      "virsh start vm: Failed to start domain 'vm'\nRequested operation is not valid: PCI device 0000:65:00.0 is in use",
    );
    for (const call of await virsh.calls()) {
      expect(call.argv.slice(0, 2)).toEqual(['-c', 'qemu+ssh://kvm-07/system']);
      expect(call.lcAll).toBe('C');
    }
  });

  it('refuses a VM name virsh would read as a domain id, before running anything', async () => {
    const { virsh, backend } = await setUp();
    await expect(backend.teardownVm('42')).rejects.toThrow('not only digits');
    expect(await virsh.calls()).toEqual([]);
  });
});
