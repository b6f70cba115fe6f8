// Whether the host itself is using an NVMe drive: unbinding the nvme driver under a mounted
// filesystem, swap, or an LVM/MD/dm-crypt stack takes that storage away from the running
// host (and, for the root disk, the host with it).

import { join } from 'node:path';
import { listDirectory, readAttribute } from './sysfs.ts';

export interface BlockDeviceUse {
  /** Kernel name of the disk or partition: `nvme0n1`, `nvme0n1p2`. */
  blockDevice: string;
  /** What an operator must undo, phrased to follow the device name. */
  problem: string;
}

// A namespace under the controller is `nvme0n1`, or with native NVMe multipath (on by default
// in Debian and Ubuntu kernels) the hidden path `nvme0c0n1`, whose disk is `nvme0n1`.
const NAMESPACE_NAME = /^nvme\d+(c\d+)?n\d+$/;

async function nvmeDisks(pciDeviceDir: string): Promise<string[]> {
  const disks = new Set<string>();
  for (const controller of await listDirectory(join(pciDeviceDir, 'nvme'))) {
    for (const entry of await listDirectory(join(pciDeviceDir, 'nvme', controller))) {
      if (NAMESPACE_NAME.test(entry)) disks.add(entry.replace(/c\d+(?=n\d+$)/, ''));
    }
  }
  return [...disks];
}

interface BlockDevice {
  name: string;
  /** `major:minor` from the `dev` attribute. */
  devNumber: string | null;
  holders: string[];
}

async function disksWithPartitions(sysfsRoot: string, disks: string[]): Promise<BlockDevice[]> {
  const devices: BlockDevice[] = [];
  for (const disk of disks) {
    const diskDir = join(sysfsRoot, 'class/block', disk);
    const partitionName = new RegExp(`^${disk}p\\d+$`);
    const partitions = (await listDirectory(diskDir)).filter((entry) => partitionName.test(entry));
    for (const [name, dir] of [[disk, diskDir], ...partitions.map((p) => [p, join(diskDir, p)])] as const) {
      devices.push({
        name,
        devNumber: await readAttribute(join(dir, 'dev')),
        holders: await listDirectory(join(dir, 'holders')),
      });
    }
  }
  return devices;
}

interface Mount {
  devNumber: string;
  source: string;
  mountPoint: string;
}

// /proc/*/mountinfo and /proc/swaps escape space, tab, newline and backslash as octal.
function unescapeOctal(field: string): string {
  return field.replace(/\\([0-7]{3})/g, (_match, octal: string) => String.fromCharCode(Number.parseInt(octal, 8)));
}

// `36 35 259:2 / / rw,relatime shared:1 - ext4 /dev/nvme0n1p2 rw`: the device number is the
// third field, the source follows the filesystem type after the ` - ` separator.
function parseMountinfo(text: string): Mount[] {
  const mounts: Mount[] = [];
  for (const line of text.split('\n')) {
    const fields = line.split(' ');
    const separator = fields.indexOf('-');
    const devNumber = fields[2];
    const mountPoint = fields[4];
    const source = fields[separator + 2];
    if (separator < 0 || !devNumber || !mountPoint || !source) continue;
    mounts.push({ devNumber, source: unescapeOctal(source), mountPoint: unescapeOctal(mountPoint) });
  }
  return mounts;
}

function parseSwaps(text: string): string[] {
  return text
    .split('\n')
    .slice(1)
    .map((line) => unescapeOctal(line.split(/\s+/)[0] ?? ''))
    .filter(Boolean);
}

/** Every way the host uses the block devices of one NVMe PCI function; empty when it is free. */
export async function nvmeBlockDeviceUses(
  sysfsRoot: string,
  procRoot: string,
  pciDeviceDir: string,
): Promise<BlockDeviceUse[]> {
  const devices = await disksWithPartitions(sysfsRoot, await nvmeDisks(pciDeviceDir));
  if (devices.length === 0) return [];
  const mounts = parseMountinfo((await readAttribute(join(procRoot, 'self/mountinfo'))) ?? '');
  const swaps = parseSwaps((await readAttribute(join(procRoot, 'swaps'))) ?? '');
  const uses: BlockDeviceUse[] = [];
  for (const device of devices) {
    const path = `/dev/${device.name}`;
    // Match the device number as well as the name: the root filesystem can show up as
    // `/dev/root`, while btrfs reports an anonymous device number but the real source.
    for (const mount of mounts) {
      if (mount.devNumber !== device.devNumber && mount.source !== path) continue;
      uses.push({
        blockDevice: device.name,
        problem:
          mount.mountPoint === '/'
            ? "is mounted at /; refusing to detach the host's root disk"
            : `is mounted at ${mount.mountPoint}; unmount it before detaching`,
      });
    }
    if (swaps.includes(path)) {
      uses.push({ blockDevice: device.name, problem: 'is in use as swap; swapoff it before detaching' });
    }
    if (device.holders.length > 0) {
      uses.push({
        blockDevice: device.name,
        problem: `is held by ${device.holders.join(', ')} (LVM, RAID or dm-crypt); stop those before detaching`,
      });
    }
  }
  return uses;
}
