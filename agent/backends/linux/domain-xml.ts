// libvirt domain and hostdev XML for passthrough VMs, and reading hostdevs back from dumpxml.
//
// PCI functions use managed='no': the agent binds them to vfio-pci itself at detach (the
// pool), so libvirt must not rebind them at VM start and stop.
// USB devices are named by vendor and product id, as Proxmox and virt-manager users expect:
// that survives replugging and reboots, which the bus/device number (renumbered on every
// plug) does not. Only when the host has several devices with the same ids, which libvirt
// would refuse as ambiguous, is the bus/device number added to pick one.

import { createHash } from 'node:crypto';
import type { HostdevRef, VmSpec } from '../../backend.ts';
import { parsePciAddress } from './pci-address.ts';
import { ALL_DIGITS_PATTERN } from '../../../protocol/rules.ts';

export interface UsbBusAddress {
  bus: number;
  device: number;
}

export interface DomainXmlOptions {
  /** `kvm` on real hosts; `test` for libvirt's test driver. */
  type: string;
  /** `q35` gives guests a PCIe topology, which GPU drivers expect; null for libvirt's default. */
  machine: string | null;
  /** A storage volume for the system disk; null for a VM without a disk. */
  disk: { pool: string; volume: string } | null;
  /** Bus/device numbers, by USB port path, for devices whose vendor:product is not unique on the host. */
  usbBusAddresses: ReadonlyMap<string, UsbBusAddress>;
}

const XML_ENTITIES: Record<string, string> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&apos;' };

export function escapeXml(text: string): string {
  return text.replace(/[&<>"']/g, (char) => XML_ENTITIES[char]!);
}

/**
 * A UUID derived from the name: defining the same VM again (a replayed provision) then
 * updates the existing domain, where a fresh random UUID would make libvirt refuse with
 * "domain already exists with uuid ...".
 */
export function domainUuid(name: string): string {
  const bytes = createHash('sha1').update(`passthru-vm:${name}`).digest().subarray(0, 16);
  bytes[6] = (bytes[6]! & 0x0f) | 0x50; // version 5: name-based, SHA-1
  bytes[8] = (bytes[8]! & 0x3f) | 0x80; // RFC 4122 variant
  const hex = bytes.toString('hex');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}

/**
 * Throws a message for the operator when virsh could not address the domain by this name. Looser
 * than the VM name rule the server applies (protocol/rules.ts): the backend handles any domain
 * on the host, its markup escaped, and refuses only what would misdirect virsh or a path.
 */
export function assertVirshAddressable(name: string): void {
  // virsh looks a domain argument up as an id and a UUID before trying it as a name.
  if (!name || /[/\p{Cc}]/u.test(name) || new RegExp(ALL_DIGITS_PATTERN).test(name)) {
    throw new Error(`VM name "${name}" is not usable with libvirt: it must be non-empty, not only digits, without "/"`);
  }
}

export function validateVmSpec(vm: VmSpec): void {
  assertVirshAddressable(vm.name);
  for (const [field, value] of [['cores', vm.cores], ['memoryMb', vm.memoryMb]] as const) {
    if (!Number.isInteger(value) || value < 1) throw new Error(`VM ${vm.name}: ${field} must be a positive integer, got ${value}`);
  }
  if (!Number.isInteger(vm.diskGb) || vm.diskGb < 0) throw new Error(`VM ${vm.name}: diskGb must be a whole number, got ${vm.diskGb}`);
}

const hex = (value: number, digits: number) => `0x${value.toString(16).padStart(digits, '0')}`;

function checkUsbId(id: string): string {
  if (!/^[0-9a-f]{4}$/i.test(id)) throw new Error(`"${id}" is not a four-digit hex USB id`);
  return id.toLowerCase();
}

export function hostdevXml(device: HostdevRef, busAddress?: UsbBusAddress): string {
  if (device.kind === 'USB') {
    const pin = busAddress ? `<address bus='${busAddress.bus}' device='${busAddress.device}'/>` : '';
    return (
      `<hostdev mode='subsystem' type='usb' managed='yes'><source>` +
      `<vendor id='0x${checkUsbId(device.vendorId)}'/><product id='0x${checkUsbId(device.productId)}'/>${pin}` +
      `</source></hostdev>`
    );
  }
  const pci = parsePciAddress(device.address);
  return (
    `<hostdev mode='subsystem' type='pci' managed='no'><source>` +
    `<address domain='${hex(pci.domain, 4)}' bus='${hex(pci.bus, 2)}' slot='${hex(pci.slot, 2)}' function='${hex(pci.function, 1)}'/>` +
    `</source></hostdev>`
  );
}

/**
 * What the console relay reaches the guest through: the first serial port on a pty (which
 * `virsh ttyconsole` names and the agent relays), shown to the guest as its console, and VNC
 * graphics on the host's loopback only, on a port libvirt picks, so only the agent on the host
 * can reach the screen.
 */
export const CONSOLE_DEVICES = [
  `    <serial type='pty'>`,
  `      <target port='0'/>`,
  `    </serial>`,
  `    <console type='pty'>`,
  `      <target type='serial' port='0'/>`,
  `    </console>`,
  `    <graphics type='vnc' autoport='yes' listen='127.0.0.1'>`,
  `      <listen type='address' address='127.0.0.1'/>`,
  `    </graphics>`,
];

export function domainXml(vm: VmSpec, options: DomainXmlOptions): string {
  validateVmSpec(vm);
  const machine = options.machine ? ` machine='${escapeXml(options.machine)}'` : '';
  const disk = options.disk
    ? [
        `    <disk type='volume' device='disk'>`,
        `      <driver name='qemu' type='qcow2'/>`,
        `      <source pool='${escapeXml(options.disk.pool)}' volume='${escapeXml(options.disk.volume)}'/>`,
        `      <target dev='vda' bus='virtio'/>`,
        `    </disk>`,
      ]
    : [];
  const hostdevs = vm.devices.map((device) => `    ${hostdevXml(device, options.usbBusAddresses.get(device.address))}`);
  return [
    `<domain type='${escapeXml(options.type)}'>`,
    `  <name>${escapeXml(vm.name)}</name>`,
    `  <uuid>${domainUuid(vm.name)}</uuid>`,
    `  <memory unit='MiB'>${vm.memoryMb}</memory>`,
    `  <vcpu>${vm.cores}</vcpu>`,
    `  <os>`,
    `    <type${machine}>hvm</type>`,
    `  </os>`,
    // ACPI is what lets `virsh shutdown` ask the guest to power off cleanly.
    `  <features>`,
    `    <acpi/>`,
    `    <apic/>`,
    `  </features>`,
    `  <cpu mode='host-passthrough'/>`,
    `  <devices>`,
    ...disk,
    ...hostdevs,
    ...CONSOLE_DEVICES,
    `  </devices>`,
    `</domain>`,
    '',
  ].join('\n');
}

function attributes(tag: string): Map<string, string> {
  return new Map([...tag.matchAll(/([\w-]+)=(['"])(.*?)\2/g)].map((match) => [match[1]!, match[3]!]));
}

function firstTag(xml: string, name: string): Map<string, string> {
  const tag = new RegExp(`<${name}\\b[^>]*>`).exec(xml)?.[0];
  return tag ? attributes(tag) : new Map();
}

/** libvirt writes ids and PCI address parts in hex (`0x65`) and USB bus/device in decimal. */
function numeric(value: string | undefined): number | null {
  if (value === undefined) return null;
  return value.startsWith('0x') ? Number.parseInt(value, 16) : Number.parseInt(value, 10);
}

function sameUsbDevice(source: string, device: HostdevRef, busAddress: UsbBusAddress | undefined): boolean {
  const address = firstTag(source, 'address');
  return (
    numeric(firstTag(source, 'vendor').get('id')) === Number.parseInt(device.vendorId, 16) &&
    numeric(firstTag(source, 'product').get('id')) === Number.parseInt(device.productId, 16) &&
    (!busAddress || (numeric(address.get('bus')) === busAddress.bus && numeric(address.get('device')) === busAddress.device))
  );
}

function samePciFunction(source: string, device: HostdevRef): boolean {
  const wanted = parsePciAddress(device.address);
  const found = firstTag(source, 'address');
  return (
    numeric(found.get('domain')) === wanted.domain &&
    numeric(found.get('bus')) === wanted.bus &&
    numeric(found.get('slot')) === wanted.slot &&
    numeric(found.get('function')) === wanted.function
  );
}

/** Whether a domain's XML (from `virsh dumpxml`) already has a hostdev for this device. */
export function hasHostdev(domain: string, device: HostdevRef, busAddress?: UsbBusAddress): boolean {
  const wantedType = device.kind === 'USB' ? 'usb' : 'pci';
  for (const [hostdev] of domain.matchAll(/<hostdev\b[^>]*>[\s\S]*?<\/hostdev>/g)) {
    if (firstTag(hostdev, 'hostdev').get('type') !== wantedType) continue;
    const source = /<source\b[^>]*>([\s\S]*?)<\/source>/.exec(hostdev)?.[1] ?? '';
    if (device.kind === 'USB' ? sameUsbDevice(source, device, busAddress) : samePciFunction(source, device)) return true;
  }
  return false;
}

/** A USB hostdev as libvirt names it: by ids, with the bus/device number when it has one. */
export interface UsbHostdevSource {
  /** Four lowercase hex digits; null when the definition names the device by bus/device number only. */
  vendorId: string | null;
  productId: string | null;
  /** Set when the definition pins the device, and in a running domain's live XML. */
  busAddress: UsbBusAddress | null;
}

/** What `virsh dumpxml` says a domain is called and passes through. */
export interface DomainHostdevs {
  name: string;
  /** Full BDFs (`0000:65:00.0`) of its PCI hostdevs. */
  pci: string[];
  usb: UsbHostdevSource[];
}

const NAMED_ENTITIES: Record<string, string> = { amp: '&', lt: '<', gt: '>', quot: '"', apos: "'" };

function unescapeXml(text: string): string {
  return text.replace(/&(#x[0-9a-f]+|#\d+|amp|lt|gt|quot|apos);/gi, (entity, body: string) => {
    if (body[0] !== '#') return NAMED_ENTITIES[body.toLowerCase()] ?? entity;
    const code = body[1] === 'x' || body[1] === 'X' ? Number.parseInt(body.slice(2), 16) : Number.parseInt(body.slice(1), 10);
    return code <= 0x10ffff ? String.fromCodePoint(code) : entity;
  });
}

const hexDigits = (value: number, digits: number) => value.toString(16).padStart(digits, '0');
const isNumber = (value: number | null | undefined): value is number => typeof value === 'number' && Number.isFinite(value);

/**
 * Reads a domain's name and passthrough devices from its XML (`virsh dumpxml`). Only
 * `<hostdev mode='subsystem'>` of type pci and usb count; `<interface type='hostdev'>` (SR-IOV
 * network functions) and hostdevs with an incomplete source are skipped.
 */
export function readDomainHostdevs(domain: string): DomainHostdevs {
  const name = /<name>([\s\S]*?)<\/name>/.exec(domain)?.[1];
  if (name === undefined) throw new Error('domain XML without a <name>');
  const result: DomainHostdevs = { name: unescapeXml(name.trim()), pci: [], usb: [] };
  for (const [hostdev] of domain.matchAll(/<hostdev\b[^>]*>[\s\S]*?<\/hostdev>/g)) {
    const attributes = firstTag(hostdev, 'hostdev');
    if ((attributes.get('mode') ?? 'subsystem') !== 'subsystem') continue;
    const source = /<source\b[^>]*>([\s\S]*?)<\/source>/.exec(hostdev)?.[1] ?? '';
    const address = firstTag(source, 'address');
    if (attributes.get('type') === 'pci') {
      const [pciDomain, bus, slot, fn] = (['domain', 'bus', 'slot', 'function'] as const).map((part) => numeric(address.get(part)));
      if (!isNumber(pciDomain) || !isNumber(bus) || !isNumber(slot) || !isNumber(fn)) continue;
      result.pci.push(`${hexDigits(pciDomain, 4)}:${hexDigits(bus, 2)}:${hexDigits(slot, 2)}.${fn.toString(16)}`);
    } else if (attributes.get('type') === 'usb') {
      const vendor = numeric(firstTag(source, 'vendor').get('id'));
      const product = numeric(firstTag(source, 'product').get('id'));
      const bus = numeric(address.get('bus'));
      const device = numeric(address.get('device'));
      const ids = isNumber(vendor) && isNumber(product) ? { vendorId: hexDigits(vendor, 4), productId: hexDigits(product, 4) } : null;
      const busAddress = isNumber(bus) && isNumber(device) ? { bus, device } : null;
      // libvirt takes either the ids, the bus/device number, or both.
      if (ids || busAddress) result.usb.push({ vendorId: ids?.vendorId ?? null, productId: ids?.productId ?? null, busAddress });
    }
  }
  return result;
}
