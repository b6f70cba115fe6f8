// Whether the host itself uses a block device behind a PCI function: unbinding its driver under
// a mounted filesystem, swap, or an LVM/MD/dm-crypt stack takes that storage away from the
// running host (and, for the root disk, the host with it). Any storage controller counts:
// NVMe, virtio-blk, SATA/SAS HBAs (AHCI, megaraid, mpt3sas), USB-attached disks under an xHCI
// function; a disk belongs to the PCI function whose sysfs directory it sits under.

import { join } from 'node:path';
import { exists, listDirectory, readAttribute, resolvedPath } from './sysfs.ts';

export interface HostUse {
  /** What on the function the host uses: a disk or partition (`sda2`), an interface (`eno1`). */
  subject: string;
  /** What an operator must undo, phrased to follow the subject. */
  problem: string;
}

// With native NVMe multipath (on by default in Debian and Ubuntu kernels) the namespace under
// the controller is the hidden path `nvme0c0n1`, whose disk `nvme0n1` lives under the virtual
// nvme-subsystem, outside the PCI function's directory.
const NVME_PATH = /^nvme\d+c\d+n\d+$/;
const NVME_NAMESPACE = /^nvme\d+(c\d+)?n\d+$/;
const diskOfNvmePath = (name: string) => name.replace(/c\d+(?=n\d+$)/, '');

/** Disks (not partitions) whose sysfs device sits under the PCI function, by kernel name. */
async function disksUnder(sysfsRoot: string, pciDeviceDir: string): Promise<string[]> {
  const functionDir = await resolvedPath(pciDeviceDir);
  if (functionDir === null) return [];
  const disks = new Set<string>();
  const classBlock = join(sysfsRoot, 'class/block');
  for (const name of await listDirectory(classBlock)) {
    const dir = await resolvedPath(join(classBlock, name));
    if (dir === null || !dir.startsWith(`${functionDir}/`)) continue;
    if (await exists(join(dir, 'partition'))) continue;
    disks.add(NVME_PATH.test(name) ? diskOfNvmePath(name) : name);
  }
  // Hidden multipath paths are not always listed in /sys/class/block; the controller lists them.
  for (const controller of await listDirectory(join(pciDeviceDir, 'nvme'))) {
    for (const entry of await listDirectory(join(pciDeviceDir, 'nvme', controller))) {
      if (NVME_NAMESPACE.test(entry)) disks.add(diskOfNvmePath(entry));
    }
  }
  return [...disks];
}

interface BlockDevice {
  name: string;
  /** `major:minor` from the `dev` attribute. */
  devNumber: string | null;
  holders: string[];
  /** The device-mapper name (`vg0-root`) of a dm-N device. */
  dmName: string | null;
  /** What kind of stack this is, for a holder: `LVM volume`, `dm-crypt volume`, `RAID1 array`. */
  stack: string | null;
}

async function readBlockDevice(name: string, dir: string): Promise<BlockDevice> {
  const dmUuid = await readAttribute(join(dir, 'dm/uuid'));
  const mdLevel = await readAttribute(join(dir, 'md/level'));
  const stack = dmUuid?.startsWith('LVM-')
    ? 'LVM volume'
    : dmUuid?.startsWith('CRYPT-')
      ? 'dm-crypt volume'
      : dmUuid?.startsWith('mpath-')
        ? 'multipath device'
        : mdLevel
          ? `${mdLevel.toUpperCase()} array`
          : dmUuid !== null
            ? 'device-mapper device'
            : null;
  return {
    name,
    devNumber: await readAttribute(join(dir, 'dev')),
    holders: await listDirectory(join(dir, 'holders')),
    dmName: await readAttribute(join(dir, 'dm/name')),
    stack,
  };
}

async function disksWithPartitions(sysfsRoot: string, disks: string[]): Promise<BlockDevice[]> {
  const devices: BlockDevice[] = [];
  for (const disk of disks) {
    const diskDir = join(sysfsRoot, 'class/block', disk);
    devices.push(await readBlockDevice(disk, diskDir));
    for (const entry of await listDirectory(diskDir)) {
      if (await exists(join(diskDir, entry, 'partition'))) devices.push(await readBlockDevice(entry, join(diskDir, entry)));
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

interface HostStorage {
  mounts: Mount[];
  swaps: string[];
}

/** The paths a block device may be named by in mountinfo and /proc/swaps. */
function devicePaths(device: BlockDevice): string[] {
  return [`/dev/${device.name}`, ...(device.dmName ? [`/dev/mapper/${device.dmName}`] : [])];
}

/** How the host uses a block device itself, phrased to follow "is" or "which is": mounts, then swap. */
function directUses(device: BlockDevice, storage: HostStorage): string[] {
  const paths = devicePaths(device);
  // Match the device number as well as the name: the root filesystem can show up as
  // `/dev/root`, while btrfs reports an anonymous device number but the real source.
  const uses = storage.mounts
    .filter((mount) => mount.devNumber === device.devNumber || paths.includes(mount.source))
    .map((mount) =>
      mount.mountPoint === '/'
        ? "mounted at /; refusing to detach the host's root disk"
        : `mounted at ${mount.mountPoint}; unmount it before detaching`,
    );
  if (storage.swaps.some((swap) => paths.includes(swap))) uses.push('in use as swap; swapoff it before detaching');
  return uses;
}

function describeHolder(holder: BlockDevice): string {
  const details = [holder.stack, holder.dmName].filter(Boolean).join(' ');
  return details ? `${holder.name} (${details})` : `${holder.name} (LVM, RAID or dm-crypt)`;
}

/**
 * The problems of a holder stack (dm-N, mdN) built on a device, following holders of holders
 * (dm-crypt on LVM on RAID): each mount or swap at the top, or the stack itself when nothing on
 * it is mounted (its device still goes away under it). `chain` is how the device reaches it.
 */
async function holderProblems(sysfsRoot: string, holderName: string, storage: HostStorage, chain: string): Promise<string[]> {
  const holder = await readBlockDevice(holderName, join(sysfsRoot, 'class/block', holderName));
  const path = `${chain}${describeHolder(holder)}`;
  const problems = directUses(holder, storage).map((use) => `${path}, which is ${use}`);
  // A stack is a few levels deep; the bound only keeps a malformed tree from looping.
  if (chain.split(', which backs ').length < 8) {
    for (const above of holder.holders) problems.push(...(await holderProblems(sysfsRoot, above, storage, `${path}, which backs `)));
  }
  return problems.length > 0 ? problems : [`${path}; stop it before detaching`];
}

/** Every way the host uses the block devices under one PCI function; empty when it uses none. */
export async function blockDeviceUses(sysfsRoot: string, procRoot: string, pciDeviceDir: string): Promise<HostUse[]> {
  const devices = await disksWithPartitions(sysfsRoot, await disksUnder(sysfsRoot, pciDeviceDir));
  if (devices.length === 0) return [];
  const storage: HostStorage = {
    mounts: parseMountinfo((await readAttribute(join(procRoot, 'self/mountinfo'))) ?? ''),
    swaps: parseSwaps((await readAttribute(join(procRoot, 'swaps'))) ?? ''),
  };
  const uses: HostUse[] = [];
  for (const device of devices) {
    for (const use of directUses(device, storage)) uses.push({ subject: device.name, problem: `is ${use}` });
    for (const holder of device.holders) {
      for (const problem of await holderProblems(sysfsRoot, holder, storage, 'backs ')) uses.push({ subject: device.name, problem });
    }
  }
  return uses;
}
