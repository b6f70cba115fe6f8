// Single-device mutations at concurrency 1: detachDevice and assignDevice, each timed from the
// call to its answer (the agent's acknowledgement is awaited after, untimed, and the device
// is put back), beside one UPDATE round trip of the `postgres` driver.
import postgres from 'postgres';
import { graphql, type VariablesOf } from '../../protocol/graphql.ts';
import type { TestClient } from '../../tests/support/client.ts';
import type { BenchDatabase } from '../support/database.ts';
import { percentile, sortedCopy } from '../support/stats.ts';
import type { StatusWatch } from './db-watch.ts';
import { uuidOf } from './write.ts';

export interface MutationResult {
  name: string;
  count: number;
  p50: number;
  p99: number;
  errors: string[];
}

const ACK_TIMEOUT_MS = 30_000;

function result(name: string, latencies: number[], errors: string[]): MutationResult {
  const sorted = sortedCopy(latencies);
  return { name, count: sorted.length, p50: percentile(sorted, 50), p99: percentile(sorted, 99), errors };
}

// The device commands, each selecting only its outcome's type name (and a refusal's message), so
// the timing is the server's work and not the size of the answer.
const DetachDevice = graphql(`
  mutation BenchDetachDevice($input: DetachDeviceInput!) { result: detachDevice(input: $input) { __typename ... on Error { message } } }
`);
const AttachDevice = graphql(`
  mutation BenchAttachDevice($input: AttachDeviceInput!) { result: attachDevice(input: $input) { __typename ... on Error { message } } }
`);
const AssignDevice = graphql(`
  mutation BenchAssignDevice($input: AssignDeviceInput!) { result: assignDevice(input: $input) { __typename ... on Error { message } } }
`);
const ReleaseDevice = graphql(`
  mutation BenchReleaseDevice($input: ReleaseDeviceInput!) { result: releaseDevice(input: $input) { __typename ... on Error { message } } }
`);

const ProvisionVm = graphql(`
  mutation BenchProvisionVm($input: ProvisionVmInput!) { provisionVm(input: $input) { __typename ... on VmOperationSuccess { vm { id } } ... on Error { message } } }
`);

const HostDevices = graphql(`
  query BenchHostDevices($id: ID!) { host(id: $id) { devices(first: 500) { nodes { id kind status } } } }
`);

/** A command's refusal as one line, or null when it was accepted. */
function refusal(mutation: string, { result }: { result: { __typename: 'DeviceOperationSuccess' } | { __typename: string; message: string } }): string | null {
  return 'message' in result ? `${mutation}: ${result.__typename}: ${result.message}` : null;
}

function deviceCommands(client: TestClient) {
  return {
    detachDevice: async (deviceId: string) => refusal('detachDevice', await client.data(DetachDevice, { input: { deviceId } })),
    attachDevice: async (deviceId: string) => refusal('attachDevice', await client.data(AttachDevice, { input: { deviceId } })),
    assignDevice: async (input: VariablesOf<typeof AssignDevice>['input']) => refusal('assignDevice', await client.data(AssignDevice, { input })),
    releaseDevice: async (deviceId: string) => refusal('releaseDevice', await client.data(ReleaseDevice, { input: { deviceId } })),
  };
}

export async function runMutations(options: {
  client: TestClient;
  database: BenchDatabase;
  devices: StatusWatch;
  vms: StatusWatch;
  hostId: string;
  planId: string;
  durationMs: number;
}): Promise<MutationResult[]> {
  const { client, devices } = options;
  const { provisionVm } = await client.data(ProvisionVm, { input: { name: 'bench-mutations', planId: options.planId, hostId: options.hostId } });
  if (provisionVm.__typename !== 'VmOperationSuccess') throw new Error(`provisionVm for the mutations: ${provisionVm.message}`);
  await options.vms.until('bench-mutations', ['RUNNING'], ACK_TIMEOUT_MS);
  // Chosen once the VM holds its own GPU, so the one assigned below is still free.
  const { host } = await client.data(HostDevices, { id: options.hostId });
  const list = host?.devices.nodes ?? [];
  const drive = list.find((d) => d.kind === 'NVME' && d.status === 'ATTACHED');
  const gpu = list.find((d) => d.kind === 'GPU' && d.status === 'DETACHED');
  if (!drive || !gpu) throw new Error(`host ${options.hostId} has no attached NVMe drive or no free GPU`);

  const commands = deviceCommands(client);
  const timed = async (command: () => Promise<string | null>, latencies: number[], errors: string[]) => {
    const started = performance.now();
    const error = await command();
    if (error) errors.push(error);
    else latencies.push(performance.now() - started);
  };
  const settle = async (deviceId: string, status: string, errors: string[]) => {
    const reached = await devices.until(uuidOf(deviceId), [status], ACK_TIMEOUT_MS);
    if (reached !== status) errors.push(`device did not reach ${status}`);
    devices.forget(uuidOf(deviceId));
  };

  const detach: number[] = [];
  const assign: number[] = [];
  const update: number[] = [];
  const detachErrors: string[] = [];
  const assignErrors: string[] = [];
  const deadline = performance.now() + options.durationMs;
  while (performance.now() < deadline) {
    await timed(() => commands.detachDevice(drive.id), detach, detachErrors);
    await settle(drive.id, 'DETACHED', detachErrors);
    await commands.attachDevice(drive.id);
    await settle(drive.id, 'ATTACHED', detachErrors);
    // The GPU's audio function shares its IOMMU group: they are assigned together.
    await timed(() => commands.assignDevice({ deviceId: gpu.id, vmId: provisionVm.vm.id, withGroup: true }), assign, assignErrors);
    await settle(gpu.id, 'ASSIGNED', assignErrors);
    await commands.releaseDevice(gpu.id);
    await settle(gpu.id, 'DETACHED', assignErrors);
    if (detachErrors.length + assignErrors.length > 20) break;
  }

  // The floor: one UPDATE of the same device row, one round trip, as many times.
  const sql = postgres(options.database.url, { max: 1, onnotice: () => {} });
  const driveUuid = uuidOf(drive.id);
  // Not timed: the connection and the prepared statement.
  for (let i = 0; i < 5; i++) await sql`update devices set updated_at = now() where id = ${driveUuid}`;
  for (let i = 0; i < Math.max(50, detach.length); i++) {
    const started = performance.now();
    await sql`update devices set updated_at = now() where id = ${driveUuid}`;
    update.push(performance.now() - started);
  }
  await sql.end({ timeout: 5 });
  return [result('detachDevice', detach, detachErrors), result('assignDevice', assign, assignErrors), result('floor: one UPDATE', update, [])];
}
