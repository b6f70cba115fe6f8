// Whether a PCI function is the host's way out: unbinding the NIC that carries the default
// route cuts the host (and the agent's own connection) off the network. The route may leave
// through a bridge, bond or VLAN on top of the NIC (a KVM host's br0 on eno1), so the
// interface's lower devices are followed down to the physical ones.

import { join } from 'node:path';
import type { HostUse } from './block-usage.ts';
import { listDirectory, readAttribute, resolvedPath } from './sysfs.ts';

// /proc/net/route: `Iface Destination Gateway Flags RefCnt Use Metric Mask ...`, hex fields;
// the default route has destination and mask 0.
function ipv4DefaultRouteInterfaces(text: string): string[] {
  return text
    .split('\n')
    .slice(1)
    .map((line) => line.trim().split(/\s+/))
    .filter((fields) => fields[1] === '00000000' && fields[7] === '00000000' && fields[0])
    .map((fields) => fields[0]!);
}

// /proc/net/ipv6_route: `dest destPrefixLen src srcPrefixLen nextHop metric refCnt use flags iface`;
// the default route is ::/0. Routes on the loopback (`lo`, unreachable defaults) do not count.
function ipv6DefaultRouteInterfaces(text: string): string[] {
  return text
    .split('\n')
    .map((line) => line.trim().split(/\s+/))
    .filter((fields) => /^0{32}$/.test(fields[0] ?? '') && fields[1] === '00' && fields[9] && fields[9] !== 'lo')
    .map((fields) => fields[9]!);
}

/** The interfaces the host's default routes (IPv4 and IPv6) leave through. */
export async function defaultRouteInterfaces(procRoot: string): Promise<string[]> {
  const ipv4 = ipv4DefaultRouteInterfaces((await readAttribute(join(procRoot, 'net/route'))) ?? '');
  const ipv6 = ipv6DefaultRouteInterfaces((await readAttribute(join(procRoot, 'net/ipv6_route'))) ?? '');
  return [...new Set([...ipv4, ...ipv6])];
}

/** The interface and every interface below it (bridge ports, bond slaves, a VLAN's parent). */
async function withLowerInterfaces(sysfsRoot: string, name: string, seen = new Set<string>()): Promise<string[]> {
  if (seen.has(name)) return [];
  seen.add(name);
  const lower = (await listDirectory(join(sysfsRoot, 'class/net', name)))
    .filter((entry) => entry.startsWith('lower_'))
    .map((entry) => entry.slice('lower_'.length));
  const below = [];
  for (const interfaceName of lower) below.push(...(await withLowerInterfaces(sysfsRoot, interfaceName, seen)));
  return [name, ...below];
}

/** The default-route interfaces that are this PCI function's; empty when it carries none. */
export async function defaultRouteUses(sysfsRoot: string, procRoot: string, pciDeviceDir: string): Promise<HostUse[]> {
  const functionDir = await resolvedPath(pciDeviceDir);
  if (functionDir === null) return [];
  const uses: HostUse[] = [];
  for (const routed of await defaultRouteInterfaces(procRoot)) {
    for (const name of await withLowerInterfaces(sysfsRoot, routed)) {
      if ((await resolvedPath(join(sysfsRoot, 'class/net', name, 'device'))) !== functionDir) continue;
      const through = name === routed ? '' : ` (through ${routed})`;
      uses.push({ subject: name, problem: `carries the host's default route${through}; refusing to cut the host off the network` });
    }
  }
  return uses;
}
