// Everything the host itself uses on a PCI function, which detaching it would take away.

import { blockDeviceUses, type HostUse } from './block-usage.ts';
import { defaultRouteUses } from './network-usage.ts';

export type { HostUse } from './block-usage.ts';

/** Storage under the function that is mounted, swap or in a stack, and its default-route NIC. */
export async function hostUses(sysfsRoot: string, procRoot: string, pciDeviceDir: string): Promise<HostUse[]> {
  const [storage, network] = await Promise.all([
    blockDeviceUses(sysfsRoot, procRoot, pciDeviceDir),
    defaultRouteUses(sysfsRoot, procRoot, pciDeviceDir),
  ]);
  return [...storage, ...network];
}
