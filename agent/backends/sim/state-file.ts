// The state file: a simulated host's hardware state kept on disk (`stateFile` in its config),
// so device bindings and VMs survive the agent process as they would on a real host.

import { existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import type { SimDevice } from './hardware.ts';

/** A libvirt domain as the simulated host keeps it. */
export interface SimDomain {
  name: string;
  cores: number;
  memoryMb: number;
  diskGb: number;
  /** Addresses of the hostdevs in its definition. */
  devices: string[];
  running: boolean;
}

export interface SimSnapshot {
  devices: SimDevice[];
  /** Devices pulled out of the host; `plugDevice` puts them back. */
  unplugged: SimDevice[];
  domains: SimDomain[];
}

interface StateFile extends SimSnapshot {
  version: 1;
}

/** The state kept in `file`, or null when there is none yet. */
export function readStateFile(file: string): SimSnapshot | null {
  if (!existsSync(file)) return null;
  const parsed = JSON.parse(readFileSync(file, 'utf8')) as Partial<StateFile>;
  if (parsed.version !== 1 || !Array.isArray(parsed.devices) || !Array.isArray(parsed.domains)) {
    throw new Error(`${file} is not a simulated host state file (version 1); delete it to start from the config`);
  }
  return { devices: parsed.devices, unplugged: parsed.unplugged ?? [], domains: parsed.domains };
}

/** Written whole and renamed into place, so a process killed mid-write leaves the old state. */
export function writeStateFile(file: string, snapshot: SimSnapshot): void {
  const state: StateFile = { version: 1, ...snapshot };
  mkdirSync(dirname(file), { recursive: true });
  const temp = `${file}.${process.pid}.tmp`;
  writeFileSync(temp, JSON.stringify(state, null, 2));
  renameSync(temp, file);
}
