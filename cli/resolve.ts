import { Clusters, Devices, Hosts, ServicePlans, Vms } from '../protocol/commands.ts';
import type { Api } from './api.ts';
import { CliError, EXIT } from './exit-codes.ts';
import { findInPages } from './pages.ts';

// Operators type names; the API takes global IDs. Each argument may be either: a global ID
// (base64 of `Type:uuid`) goes to the server as it is, anything else is looked up by name.

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** The type a global ID names, or null when the text is not one (then it is a name). */
export function globalIdType(text: string): string | null {
  if (!/^[A-Za-z0-9+/]+=*$/.test(text)) return null;
  const decoded = Buffer.from(text, 'base64').toString('utf8');
  const colon = decoded.indexOf(':');
  return colon > 0 && UUID.test(decoded.slice(colon + 1)) ? decoded.slice(0, colon) : null;
}

function notFound(what: string, name: string, hint: string): CliError {
  return new CliError(`no ${what} is named "${name}"; ${hint}`, EXIT.notFound, 'NotFoundError');
}

export async function hostId(api: Api, text: string): Promise<string> {
  if (globalIdType(text)) return text;
  const host = await findInPages(
    async (first, after) => (await api.request(Hosts, { first, after })).hosts,
    (h) => h.name === text,
  );
  if (!host) throw notFound('host', text, 'see passthru hosts');
  return host.id;
}

export async function vmId(api: Api, text: string): Promise<string> {
  if (globalIdType(text)) return text;
  const vm = await findInPages(
    async (first, after) => (await api.request(Vms, { first, after })).vms,
    (v) => v.name === text,
  );
  if (!vm) throw notFound('VM', text, 'see passthru vms');
  return vm.id;
}

export async function planId(api: Api, text: string): Promise<string> {
  if (globalIdType(text)) return text;
  const { servicePlans } = await api.request(ServicePlans);
  const plan = servicePlans.find((p) => p.name === text);
  if (!plan) throw notFound('service plan', text, `the plans are: ${servicePlans.map((p) => p.name).join(', ') || 'none'}`);
  return plan.id;
}

export async function clusterId(api: Api, text: string): Promise<string> {
  if (globalIdType(text)) return text;
  const { clusters } = await api.request(Clusters);
  const cluster = clusters.find((c) => c.name === text);
  if (!cluster) throw notFound('cluster', text, `the clusters are: ${clusters.map((c) => c.name).join(', ') || 'none'}`);
  return cluster.id;
}

/** A device by global ID, or as HOST/ADDRESS (`gpu-01/0000:41:00.0`, `gpu-01/1-2`). */
export async function deviceId(api: Api, text: string): Promise<string> {
  if (globalIdType(text)) return text;
  const slash = text.indexOf('/');
  if (slash <= 0) throw new CliError(`"${text}" is not a device ID; name a device by its ID or as HOST/ADDRESS (gpu-01/0000:41:00.0)`, EXIT.usage);
  const host = await hostId(api, text.slice(0, slash));
  const address = text.slice(slash + 1);
  const device = await findInPages(
    async (first, after) => (await api.request(Devices, { first, after, filter: { hostId: host } })).devices,
    (d) => d.address === address,
  );
  if (!device) throw notFound('device', text, `see passthru devices --host ${text.slice(0, slash)}`);
  return device.id;
}
