import { execFileSync } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import type { HostdevRef, VmSpec } from '../../agent/backend.ts';
import { domainUuid, domainXml, hasHostdev, hostdevXml, readDomainHostdevs, validateVmSpec } from '../../agent/backends/linux/domain-xml.ts';
import { NO_VIRSH, virshInstalled } from './fake-virsh.ts';

const GPU: HostdevRef = { kind: 'GPU', address: '0000:65:00.0', vendorId: '10de', productId: '2204' };
const GPU_AUDIO: HostdevRef = { kind: 'PCI', address: '0000:65:00.1', vendorId: '10de', productId: '1aef' };
const NVME: HostdevRef = { kind: 'NVME', address: '0000:04:00.0', vendorId: '144d', productId: 'a80a' };
const KEYBOARD: HostdevRef = { kind: 'USB', address: '1-1.4', vendorId: '046d', productId: 'c31c' };
const RECEIVER: HostdevRef = { kind: 'USB', address: '1-1.3', vendorId: '046d', productId: 'c52b' };

const VM: VmSpec = { name: 'ml-train-01', cores: 8, memoryMb: 32768, diskGb: 0, devices: [GPU, GPU_AUDIO, NVME, KEYBOARD] };
const TEST_DRIVER = { type: 'test', machine: 'q35', disk: null, usbBusAddresses: new Map() };

describe('libvirt XML', () => {
  it('writes a PCI hostdev by host address, unmanaged (the agent binds vfio-pci itself)', () => {
    expect(hostdevXml(GPU_AUDIO)).toBe(
      "<hostdev mode='subsystem' type='pci' managed='no'><source>" +
        "<address domain='0x0000' bus='0x65' slot='0x00' function='0x1'/></source></hostdev>",
    );
  });

  it('writes a USB hostdev by vendor and product id', () => {
    expect(hostdevXml(KEYBOARD)).toBe(
      "<hostdev mode='subsystem' type='usb' managed='yes'><source><vendor id='0x046d'/><product id='0xc31c'/></source></hostdev>",
    );
  });

  it('adds the bus/device number when the host has look-alike USB devices', () => {
    expect(hostdevXml(KEYBOARD, { bus: 1, device: 5 })).toContain("<product id='0xc31c'/><address bus='1' device='5'/></source>");
  });

  it('refuses malformed device addresses and ids instead of writing them into XML', () => {
    expect(() => hostdevXml({ ...GPU, address: "0000:65:00.0'/><x" })).toThrow('is not a PCI address');
    expect(() => hostdevXml({ ...KEYBOARD, vendorId: "046d'" })).toThrow('is not a four-digit hex USB id');
  });

  it('escapes the VM name', () => {
    expect(domainXml({ ...VM, name: `a<b>&'c"` }, TEST_DRIVER)).toContain('<name>a&lt;b&gt;&amp;&apos;c&quot;</name>');
  });

  it('gives the same VM name the same UUID, so defining it again updates the domain', () => {
    expect(domainUuid('ml-train-01')).toBe(domainUuid('ml-train-01'));
    expect(domainUuid('ml-train-01')).not.toBe(domainUuid('ml-train-02'));
    expect(domainUuid('ml-train-01')).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-5[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    expect(domainXml(VM, TEST_DRIVER)).toContain(`<uuid>${domainUuid('ml-train-01')}</uuid>`);
  });

  it('writes the domain type, memory in MiB, vcpus, machine type and a disk volume', () => {
    const xml = domainXml(VM, { type: 'kvm', machine: 'q35', disk: { pool: 'images', volume: 'ml-train-01.qcow2' }, usbBusAddresses: new Map() });
    expect(xml).toContain("<domain type='kvm'>");
    expect(xml).toContain("<memory unit='MiB'>32768</memory>");
    expect(xml).toContain('<vcpu>8</vcpu>');
    expect(xml).toContain("<type machine='q35'>hvm</type>");
    expect(xml).toContain("<source pool='images' volume='ml-train-01.qcow2'/>");
    expect(domainXml(VM, { ...TEST_DRIVER, machine: null })).toContain('<type>hvm</type>');
  });

  it('gives every domain a serial console on a pty and VNC graphics on the loopback only (the console relay reaches the guest through them)', () => {
    const xml = domainXml(VM, TEST_DRIVER);
    expect(xml).toContain("<serial type='pty'>\n      <target port='0'/>\n    </serial>");
    expect(xml).toContain("<console type='pty'>\n      <target type='serial' port='0'/>\n    </console>");
    expect(xml).toContain("<graphics type='vnc' autoport='yes' listen='127.0.0.1'>");
    expect(xml).not.toMatch(/listen='0\.0\.0\.0'/);
  });

  it('rejects specs libvirt or virsh would trip over', () => {
    expect(() => validateVmSpec({ ...VM, name: '42' })).toThrow('not only digits');
    expect(() => validateVmSpec({ ...VM, name: 'a/b' })).toThrow('without "/"');
    expect(() => validateVmSpec({ ...VM, name: '' })).toThrow('non-empty');
    expect(() => validateVmSpec({ ...VM, cores: 0 })).toThrow('cores must be a positive integer');
    expect(() => validateVmSpec({ ...VM, memoryMb: 1.5 })).toThrow('memoryMb must be a positive integer');
    expect(() => validateVmSpec({ ...VM, diskGb: -1 })).toThrow('diskGb must be a whole number');
  });

  it('finds hostdevs in dumpxml output, telling the host address from the guest address', () => {
    const dumped = `<domain type='kvm' id='3'><devices>
      <hostdev mode='subsystem' type='pci' managed='no'>
        <driver name='vfio'/>
        <source>
          <address domain='0x0000' bus='0x65' slot='0x00' function='0x0'/>
        </source>
        <alias name='hostdev0'/>
        <address type='pci' domain='0x0000' bus='0x65' slot='0x00' function='0x1'/>
      </hostdev>
      <hostdev mode='subsystem' type='usb' managed='yes'>
        <source>
          <vendor id='0x046d'/>
          <product id='0xc31c'/>
          <address bus='1' device='5'/>
        </source>
      </hostdev>
    </devices></domain>`;
    expect(hasHostdev(dumped, GPU)).toBe(true);
    expect(hasHostdev(dumped, GPU_AUDIO)).toBe(false);
    expect(hasHostdev(dumped, KEYBOARD)).toBe(true);
    expect(hasHostdev(dumped, KEYBOARD, { bus: 1, device: 5 })).toBe(true);
    expect(hasHostdev(dumped, KEYBOARD, { bus: 1, device: 6 })).toBe(false);
    expect(hasHostdev(dumped, RECEIVER)).toBe(false);
  });

  it("reads a domain's name and passthrough devices back from dumpxml, skipping what is not a subsystem hostdev", () => {
    const dumped = `<domain type='kvm' id='3'>
  <name>lab &amp; co &#x263A;</name>
  <uuid>0b7c4d8a-0000-4000-8000-000000000001</uuid>
  <devices>
    <interface type='hostdev' managed='yes'>
      <source><address type='pci' domain='0x0000' bus='0x3b' slot='0x02' function='0x1'/></source>
    </interface>
    <hostdev mode='subsystem' type='pci' managed='no'>
      <driver name='vfio'/>
      <source>
        <address domain='0x0000' bus='0xb7' slot='0x1f' function='0x7'/>
      </source>
      <alias name='hostdev0'/>
      <address type='pci' domain='0x0000' bus='0x05' slot='0x00' function='0x0'/>
    </hostdev>
    <hostdev mode="subsystem" type="usb" managed="yes">
      <source startupPolicy='optional'>
        <vendor id='0x046D'/>
        <product id='0xc52b'/>
        <address bus='3' device='12'/>
      </source>
      <address type='usb' bus='0' port='1'/>
    </hostdev>
    <hostdev mode='subsystem' type='usb' managed='yes'><source><address bus='1' device='5'/></source></hostdev>
    <hostdev mode='subsystem' type='scsi'><source><adapter name='scsi_host0'/><address bus='0' target='0' unit='0'/></source></hostdev>
    <hostdev mode='capabilities' type='storage'><source><block>/dev/sdf1</block></source></hostdev>
  </devices>
</domain>`;
    expect(readDomainHostdevs(dumped)).toEqual({
      name: 'lab & co \u263a',
      pci: ['0000:b7:1f.7'],
      usb: [
        { vendorId: '046d', productId: 'c52b', busAddress: { bus: 3, device: 12 } },
        { vendorId: null, productId: null, busAddress: { bus: 1, device: 5 } },
      ],
    });
    expect(readDomainHostdevs(`<domain type='kvm'><name>idle</name><devices></devices></domain>`)).toEqual({ name: 'idle', pci: [], usb: [] });
    expect(() => readDomainHostdevs('<domain/>')).toThrow('without a <name>');
  });

  it.skipIf(!virshInstalled)(`is accepted by libvirt's test driver: define, start, dumpxml${virshInstalled ? '' : ` (skipped: ${NO_VIRSH})`}`, async () => {
    const dir = await mkdtemp(join(tmpdir(), 'passthru-domain-'));
    try {
      const vm: VmSpec = { ...VM, name: 'gpu & friends <1>', devices: [GPU, GPU_AUDIO, NVME, KEYBOARD, RECEIVER] };
      const file = join(dir, 'domain.xml');
      await writeFile(
        file,
        domainXml(vm, {
          ...TEST_DRIVER,
          disk: { pool: 'default-pool', volume: 'disk.qcow2' },
          usbBusAddresses: new Map([[RECEIVER.address, { bus: 1, device: 4 }]]),
        }),
      );
      // Each virsh process gets a fresh test driver, so the steps share one invocation.
      const dumped = execFileSync(
        'virsh',
        ['-c', 'test:///default', `vol-create-as default-pool disk.qcow2 1G; define ${file}; start '${vm.name}'; dumpxml '${vm.name}'`],
        { encoding: 'utf8', env: { ...process.env, LC_ALL: 'C' } },
      );
      expect(dumped).toContain("Domain 'gpu & friends <1>' started");
      expect(dumped).toContain('<name>gpu &amp; friends &lt;1&gt;</name>');
      expect(dumped).toContain(`<uuid>${domainUuid(vm.name)}</uuid>`);
      // libvirt kept the console devices: a serial pty, the console on it, VNC on the loopback.
      expect(dumped).toMatch(/<serial type='pty'>/);
      expect(dumped).toMatch(/<console type='pty'[^>]*>\s*(<source[^>]*\/>\s*)?<target type='serial' port='0'\/>/);
      expect(dumped).toMatch(/<graphics type='vnc'[^>]*listen='127\.0\.0\.1'/);
      for (const device of [GPU, GPU_AUDIO, NVME, KEYBOARD]) expect(hasHostdev(dumped, device)).toBe(true);
      expect(hasHostdev(dumped, RECEIVER, { bus: 1, device: 4 })).toBe(true);
      expect(readDomainHostdevs(dumped.slice(dumped.indexOf('<domain')))).toEqual({
        name: 'gpu & friends <1>',
        pci: [GPU.address, GPU_AUDIO.address, NVME.address],
        usb: [
          { vendorId: '046d', productId: 'c31c', busAddress: null },
          { vendorId: '046d', productId: 'c52b', busAddress: { bus: 1, device: 4 } },
        ],
      });
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
