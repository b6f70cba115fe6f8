// Reading sysfs-style trees, where an absent attribute or link is an ordinary answer.

import { access, readFile, readdir, readlink, realpath } from 'node:fs/promises';
import { basename } from 'node:path';

function isAbsent(error: unknown): boolean {
  const code = (error as NodeJS.ErrnoException).code;
  return code === 'ENOENT' || code === 'ENOTDIR';
}

/** The attribute's content without surrounding whitespace; null when it does not exist. */
export async function readAttribute(path: string): Promise<string | null> {
  try {
    return (await readFile(path, 'utf8')).trim();
  } catch (error) {
    if (isAbsent(error)) return null;
    throw error;
  }
}

/** The last path component of a symlink's target (`driver -> ../../drivers/nvidia` gives `nvidia`). */
export async function readLinkName(path: string): Promise<string | null> {
  try {
    return basename(await readlink(path));
  } catch (error) {
    if (isAbsent(error)) return null;
    throw error;
  }
}

/** Entry names of a directory, sorted; empty when the directory does not exist. */
export async function listDirectory(path: string): Promise<string[]> {
  try {
    return (await readdir(path)).sort();
  } catch (error) {
    if (isAbsent(error)) return [];
    throw error;
  }
}

/** `0x10de` (sysfs `vendor`) or `10de` (sysfs `idVendor`) as four lowercase hex digits. */
export function hexId(raw: string): string {
  return raw.replace(/^0x/i, '').toLowerCase().padStart(4, '0');
}

export async function exists(path: string): Promise<boolean> {
  try {
    await access(path);
    return true;
  } catch (error) {
    if (isAbsent(error)) return false;
    throw error;
  }
}

/** The path with every symlink resolved (sysfs class links lead to the device tree); null when absent. */
export async function resolvedPath(path: string): Promise<string | null> {
  try {
    return await realpath(path);
  } catch (error) {
    if (isAbsent(error)) return null;
    throw error;
  }
}
