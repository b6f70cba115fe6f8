/** Formatting shared by every page, so numbers and times read the same everywhere. */

export function memory(mb: number | null | undefined): string {
  if (mb === null || mb === undefined) return '—';
  if (mb >= 1024 * 1024) return `${trim(mb / (1024 * 1024))} TiB`;
  if (mb >= 1024) return `${trim(mb / 1024)} GiB`;
  return `${mb} MiB`;
}

export function disk(gb: number): string {
  return gb >= 1024 ? `${trim(gb / 1024)} TiB` : `${gb} GiB`;
}

function trim(value: number): string {
  return Number.isInteger(value) ? String(value) : value.toFixed(1);
}

export function duration(ms: number | null | undefined): string {
  if (ms === null || ms === undefined) return '—';
  if (ms < 1000) return `${ms} ms`;
  if (ms < 60_000) return `${(ms / 1000).toFixed(ms < 10_000 ? 1 : 0)} s`;
  const minutes = Math.floor(ms / 60_000);
  return `${minutes} min ${Math.round((ms % 60_000) / 1000)} s`;
}

export function relativeTime(iso: string, now: number): string {
  const seconds = Math.round((now - Date.parse(iso)) / 1000);
  if (seconds < 5) return 'just now';
  if (seconds < 60) return `${seconds} s ago`;
  const minutes = Math.round(seconds / 60);
  if (minutes < 60) return `${minutes} min ago`;
  const hours = Math.round(minutes / 60);
  if (hours < 24) return `${hours} h ago`;
  return new Date(iso).toLocaleDateString(undefined, { month: 'short', day: 'numeric' });
}

export function absoluteTime(iso: string): string {
  return new Date(iso).toLocaleString(undefined, { dateStyle: 'medium', timeStyle: 'medium' });
}

export function pciIds(vendorId: string, productId: string): string {
  return `${vendorId}:${productId}`;
}

/**
 * A PCI function's class, subsystem and revision in lspci's words (`class 030200 · subsystem
 * 10de:16c1 · rev a1`); null for USB devices, which have none.
 */
export function pciIdentity(device: { classCode: string | null; subsystemVendorId: string | null; subsystemProductId: string | null; revision: string | null }): string | null {
  const parts = [
    device.classCode ? `class ${device.classCode}` : null,
    device.subsystemVendorId && device.subsystemProductId ? `subsystem ${pciIds(device.subsystemVendorId, device.subsystemProductId)}` : null,
    device.revision ? `rev ${device.revision}` : null,
  ].filter(Boolean);
  return parts.length > 0 ? parts.join(' · ') : null;
}

export function plural(count: number, one: string, many = `${one}s`): string {
  return `${count} ${count === 1 ? one : many}`;
}
