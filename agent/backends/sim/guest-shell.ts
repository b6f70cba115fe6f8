// The serial console of a simulated guest: a small shell whose `lspci -nn` and `lsusb` list
// exactly the devices passed through to its domain at the moment the command runs, so the
// seed's last check ("open a console, see the USB device") works on simulated hosts.

import type { DiscoveredDevice } from '../../backend.ts';

/** The devices a guest sees: its domain's hostdevs, read afresh for every command. */
export type GuestDevices = () => DiscoveredDevice[];

const KERNEL = '6.1.0-28-amd64 #1 SMP PREEMPT_DYNAMIC Debian 6.1.119-1 (2024-11-22)';

const HELP = [
  'Simulated guest shell. Commands:',
  '  lspci [-nn]   PCI devices passed through to this VM',
  '  lsusb         USB devices passed through to this VM',
  '  uname [-a]    the guest kernel',
  '  hostname      the guest name',
  '  clear         clear the screen',
  '  exit          end the session',
];

/** pci.ids' names of the classes (class and subclass) the simulated catalogue uses. */
const CLASS_NAMES: Record<string, string> = {
  '0300': 'VGA compatible controller',
  '0302': '3D controller',
  '0380': 'Display controller',
  '0108': 'Non-Volatile memory controller',
  '0403': 'Audio device',
};

/** The class lspci shows for a function: its reported class code, else a guess from its kind. */
function pciClass(device: DiscoveredDevice): string {
  const reported = device.classCode?.slice(0, 4);
  const named = reported ? CLASS_NAMES[reported] : undefined;
  if (reported && named) return `${named} [${reported}]`;
  if (device.kind === 'GPU') return 'VGA compatible controller [0300]';
  if (device.kind === 'NVME') return 'Non-Volatile memory controller [0108]';
  if (/audio/i.test(device.productName ?? '')) return 'Audio device [0403]';
  return 'Unclassified device [0000]';
}

function pciName(device: DiscoveredDevice, withIds: boolean): string {
  const ids = withIds ? ` [${device.vendorId}:${device.productId}]` : '';
  const vendor = device.vendorName ?? (withIds ? 'Device' : `Device ${device.vendorId}`);
  const product = device.productName ?? (withIds ? '' : `Device ${device.productId}`);
  return `${vendor}${product ? ` ${product}` : ''}${ids}`;
}

/**
 * `lspci` as the guest prints it. QEMU puts each passed-through card behind its own PCIe root
 * port, so each host slot becomes a guest bus (01, 02...) and keeps its function numbers.
 */
export function guestLspci(devices: DiscoveredDevice[], withIds: boolean): string[] {
  const functions = devices.filter((d) => d.kind !== 'USB').sort((a, b) => a.address.localeCompare(b.address));
  const buses = new Map<string, number>();
  return functions.map((device) => {
    const slot = device.address.slice(0, device.address.lastIndexOf('.'));
    const fn = device.address.slice(device.address.lastIndexOf('.') + 1);
    if (!buses.has(slot)) buses.set(slot, buses.size + 1);
    const bus = (buses.get(slot) ?? 0).toString(16).padStart(2, '0');
    const klass = withIds ? pciClass(device) : pciClass(device).replace(/ \[[0-9a-f]{4}\]$/, '');
    return `${bus}:00.${fn} ${klass}: ${pciName(device, withIds)}`;
  });
}

/** `lsusb` as the guest prints it: its one USB bus, devices numbered from 2 in port order. */
export function guestLsusb(devices: DiscoveredDevice[]): string[] {
  return devices
    .filter((d) => d.kind === 'USB')
    .sort((a, b) => a.address.localeCompare(b.address))
    .map((device, index) => {
      const name = [device.vendorName, device.productName].filter(Boolean).join(' ');
      return `Bus 001 Device ${String(index + 2).padStart(3, '0')}: ID ${device.vendorId}:${device.productId}${name ? ` ${name}` : ''}`;
    });
}

/**
 * A line-editing shell on a raw terminal stream: echoes what is typed, erases on backspace,
 * runs a line on Enter, and answers `exit` (or Ctrl-D on an empty line) by ending.
 */
export class GuestShell {
  #line = '';
  /** Inside an escape sequence (arrow keys...), which the shell ignores. */
  #escape: 'none' | 'esc' | 'csi' = 'none';
  #ended = false;

  constructor(
    private readonly vmName: string,
    private readonly devices: GuestDevices,
    private readonly output: (data: string) => void,
    private readonly end: (reason: string) => void,
  ) {}

  get prompt() {
    return `root@${this.vmName}:~# `;
  }

  /** The banner and the first prompt, as a serial console shows them after autologin. */
  start() {
    this.output(`\r\nDebian GNU/Linux 12 ${this.vmName} ttyS0\r\n\r\nType "help" for the commands of this simulated guest.\r\n${this.prompt}`);
  }

  input(data: string) {
    for (const char of data) {
      if (this.#ended) return;
      this.#key(char);
    }
  }

  #key(char: string) {
    if (this.#escape === 'esc') {
      this.#escape = char === '[' ? 'csi' : 'none';
      return;
    }
    if (this.#escape === 'csi') {
      if (char >= '@' && char <= '~') this.#escape = 'none';
      return;
    }
    switch (char) {
      case '\x1b':
        this.#escape = 'esc';
        return;
      case '\r':
      case '\n': {
        const line = this.#line;
        this.#line = '';
        this.output('\r\n');
        this.#run(line.trim());
        return;
      }
      case '\x7f':
      case '\b':
        if (this.#line.length > 0) {
          this.#line = this.#line.slice(0, -1);
          this.output('\b \b');
        }
        return;
      case '\x03':
        this.#line = '';
        this.output(`^C\r\n${this.prompt}`);
        return;
      case '\x04':
        if (this.#line === '') this.#exit();
        return;
      default:
        // Printable characters only; other control keys do nothing, as in bash's defaults.
        if (char >= ' ' && this.#line.length < 4096) {
          this.#line += char;
          this.output(char);
        }
    }
  }

  #run(line: string) {
    const [command = '', ...args] = line.split(/\s+/).filter(Boolean);
    const print = (lines: string[]) => this.output(lines.map((l) => `${l}\r\n`).join(''));
    switch (command) {
      case '':
        break;
      case 'help':
        print(HELP);
        break;
      case 'lspci':
        print(guestLspci(this.devices(), args.includes('-nn')));
        break;
      case 'lsusb':
        print(guestLsusb(this.devices()));
        break;
      case 'uname':
        print([args.includes('-a') ? `Linux ${this.vmName} ${KERNEL} x86_64 GNU/Linux` : 'Linux']);
        break;
      case 'hostname':
        print([this.vmName]);
        break;
      case 'clear':
        this.output('\x1b[H\x1b[2J');
        break;
      case 'exit':
      case 'logout':
        this.#exit();
        return;
      default:
        print([`-bash: ${command}: command not found`]);
    }
    this.output(this.prompt);
  }

  #exit() {
    this.#ended = true;
    this.output('logout\r\n');
    this.end('The guest shell exited');
  }
}
