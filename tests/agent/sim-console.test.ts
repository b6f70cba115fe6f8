import { describe, expect, it } from 'vitest';
import type { DiscoveredDevice, HostdevRef } from '../../agent/backend.ts';
import { GuestShell, guestLspci, guestLsusb } from '../../agent/backends/sim/guest-shell.ts';
import { GPU_MODELS, NVME_MODELS, SimBackend, USB_MODELS } from '../../agent/backends/sim/index.ts';

const base = { serial: null, iommuGroup: 40, numaNode: 0, driver: 'vfio-pci', classCode: null, subsystemVendorId: null, subsystemProductId: null, revision: null, inUse: null };
const rtx = GPU_MODELS['rtx-3090'];
const GPU: DiscoveredDevice = { ...base, kind: 'GPU', address: '0000:17:00.0', vendorId: rtx.vendorId, productId: rtx.productId, vendorName: rtx.vendorName, productName: rtx.productName };
const AUDIO: DiscoveredDevice = { ...GPU, kind: 'PCI', address: '0000:17:00.1', productId: rtx.audio.productId, productName: rtx.audio.productName };
const nvme = NVME_MODELS['samsung-pm9a3'];
const NVME: DiscoveredDevice = { ...base, kind: 'NVME', address: '0000:02:00.0', vendorId: nvme.vendorId, productId: nvme.productId, vendorName: nvme.vendorName, productName: nvme.productName };
const stick = USB_MODELS['sandisk-ultra-fit'];
const USB: DiscoveredDevice = { ...base, kind: 'USB', address: '1-2', vendorId: stick.vendorId, productId: stick.productId, vendorName: stick.vendorName, productName: stick.productName };

function shell(devices: DiscoveredDevice[] = []) {
  const session = { output: '', ended: [] as string[] };
  const guest = new GuestShell('vm-7', () => devices, (data) => (session.output += data), (reason) => session.ended.push(reason));
  guest.start();
  /** Types `keys` and returns what the shell wrote back. */
  const type = (keys: string) => {
    const from = session.output.length;
    guest.input(keys);
    return session.output.slice(from);
  };
  return { session, type };
}

describe('the simulated guest shell', () => {
  it('prints lspci -nn lines as lspci does: guest bus per card, function kept, class and vendor:device IDs', () => {
    expect(guestLspci([NVME, AUDIO, GPU], true)).toEqual([
      '01:00.0 Non-Volatile memory controller [0108]: Samsung Electronics Co Ltd NVMe SSD Controller PM9A1/PM9A3/980PRO [144d:a80a]',
      '02:00.0 VGA compatible controller [0300]: NVIDIA Corporation GA102 [GeForce RTX 3090] [10de:2204]',
      '02:00.1 Audio device [0403]: NVIDIA Corporation GA102 High Definition Audio Controller [10de:1aef]',
    ]);
    expect(guestLspci([GPU], false)).toEqual(['01:00.0 VGA compatible controller: NVIDIA Corporation GA102 [GeForce RTX 3090]']);
  });

  it('prints lsusb lines as lsusb does, and leaves PCI devices out of them', () => {
    expect(guestLsusb([GPU, USB])).toEqual(['Bus 001 Device 002: ID 0781:5583 SanDisk Corp. Ultra Fit']);
  });

  it('greets with a prompt and echoes what is typed', () => {
    const { session, type } = shell();
    expect(session.output).toContain('Debian GNU/Linux 12 vm-7 ttyS0');
    expect(session.output.endsWith('root@vm-7:~# ')).toBe(true);
    expect(type('ab')).toBe('ab');
  });

  it('reads the devices when a command runs, so lspci and lsusb follow assignments', () => {
    const devices: DiscoveredDevice[] = [];
    const session = { output: '' };
    const guest = new GuestShell('vm-7', () => devices, (data) => (session.output += data), () => {});
    guest.input('lsusb\r');
    expect(session.output).toBe('lsusb\r\nroot@vm-7:~# ');
    devices.push(USB);
    guest.input('lsusb\r');
    expect(session.output).toContain('Bus 001 Device 002: ID 0781:5583 SanDisk Corp. Ultra Fit\r\n');
  });

  it('answers help, uname -a and hostname, and says an unknown command is not found', () => {
    const { type } = shell();
    expect(type('help\r')).toContain('lsusb         USB devices passed through to this VM');
    expect(type('uname -a\r')).toContain('Linux vm-7 6.1.0-28-amd64 #1 SMP PREEMPT_DYNAMIC Debian 6.1.119-1 (2024-11-22) x86_64 GNU/Linux\r\n');
    expect(type('hostname\r')).toBe('hostname\r\nvm-7\r\nroot@vm-7:~# ');
    expect(type('nvidia-smi\r')).toBe('nvidia-smi\r\n-bash: nvidia-smi: command not found\r\nroot@vm-7:~# ');
  });

  it('erases on backspace, drops the line on Ctrl-C, and ignores arrow keys', () => {
    const { type } = shell();
    expect(type('lsx\x7f')).toBe('lsx\b \b');
    expect(type('\x1b[A\x1b[D')).toBe('');
    expect(type('usb\r')).toBe('usb\r\nroot@vm-7:~# ');
    expect(type('rm -rf /\x03')).toBe('rm -rf /^C\r\nroot@vm-7:~# ');
  });

  it('ends the session on exit, and on Ctrl-D at an empty prompt, and then reads no more', () => {
    const first = shell();
    expect(first.type('exit\r')).toBe('exit\r\nlogout\r\n');
    expect(first.session.ended).toEqual(['The guest shell exited']);
    expect(first.type('help\r')).toBe('');
    const second = shell();
    second.type('\x04');
    expect(second.session.ended).toEqual(['The guest shell exited']);
  });
});

describe("a simulated host's consoles", () => {
  const host = () => new SimBackend({ name: 'sim-1', latencyMs: 0, usb: [{ model: 'sandisk-ultra-fit' }, { model: 'yubikey' }] });
  const usbRef = (address: string, vendorId: string, productId: string): HostdevRef => ({ kind: 'USB', address, vendorId, productId });

  it("list exactly the domain's hostdevs at the moment a command runs", async () => {
    const sim = host();
    await sim.provisionVm({ name: 'vm-1', cores: 1, memoryMb: 512, diskGb: 0, devices: [] });
    let output = '';
    const session = await sim.openConsole('vm-1', { output: (data) => (output += data), end: () => {} });
    await sim.assignDevice('vm-1', usbRef('1-1', '0781', '5583'));
    session.write('lsusb\r');
    expect(output).toContain('ID 0781:5583 SanDisk Corp. Ultra Fit\r\n');
    expect(output).not.toContain('Yubico');
    await sim.releaseDevice('vm-1', usbRef('1-1', '0781', '5583'));
    output = '';
    session.write('lsusb\r');
    expect(output).toBe('lsusb\r\nroot@vm-1:~# ');
  });

  it('end when their VM stops, and refuse a VM that is not running or not defined', async () => {
    const sim = host();
    await sim.provisionVm({ name: 'vm-1', cores: 1, memoryMb: 512, diskGb: 0, devices: [] });
    const ended: string[] = [];
    await sim.openConsole('vm-1', { output: () => {}, end: (reason) => ended.push(reason) });
    await sim.stopVm('vm-1');
    expect(ended).toEqual(['VM vm-1 was stopped']);
    await expect(sim.openConsole('vm-1', { output: () => {}, end: () => {} })).rejects.toThrow('VM vm-1 is not running; start it to use its console');
    await expect(sim.openConsole('vm-2', { output: () => {}, end: () => {} })).rejects.toThrow('VM vm-2 is not defined on this host');
  });
});
