import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { graphql } from '../../protocol/graphql.ts';
import { member } from '../support/client.ts';
import { ChangeSet } from '../../server/db/transaction.ts';
import { Seed } from '../support/seed.ts';
import { startTestServer, type TestServer } from '../support/server.ts';
import { NO_TIMERS, StatementLog } from '../support/statements.ts';

let server: TestServer;
let seed: Seed;
const log = new StatementLog();
const DEVICE_PRODUCT = graphql(`query($id: ID!) { node(id: $id) { __typename ... on Device { id productName } } }`);
const REPORT_INVENTORY = graphql(`mutation($input: ReportInventoryInput!) { reportInventory(input: $input) { __typename } }`);
const HOST_CORES = graphql(`query($id: ID!) { host(id: $id) { cpuCores } }`);

beforeAll(async () => {
  server = await startTestServer({
    config: NO_TIMERS,
    onQuery: log.onQuery,
  });
  seed = new Seed(server.client, server.url);
});
afterAll(() => server.stop());
afterEach(() => vi.restoreAllMocks());

/** Every change a transaction announces, by kind. */
function watchAnnouncements() {
  const announced: string[] = [];
  for (const kind of ['host', 'device', 'vm', 'operation'] as const) {
    vi.spyOn(ChangeSet.prototype, kind).mockImplementation(function (this: ChangeSet, change: { id: string }) {
      announced.push(`${kind}:${change.id}`);
    });
  }
  return announced;
}

async function countWrites(work: () => Promise<unknown>) {
  return (await log.during(work)).filter((sql) => /^\s*(update|insert|delete)\b/i.test(sql));
}

describe('inventory reports write only what changed', () => {
  it('an unchanged inventory reported twice writes nothing the second time and announces nothing', async () => {
    const { agent } = await seed.cluster().host({ name: 'steady-host', gpus: 2, usb: 2, nvme: 1 });
    agent.vms = [];
    await agent.reportInventory();

    const announced = watchAnnouncements();
    expect(await countWrites(() => agent.reportInventory())).toEqual([]);
    expect(announced).toEqual([]);
    await agent.disconnect();
  });

  it('a report that changes one device writes and announces that device alone', async () => {
    const { id: hostId, agent } = await seed.cluster().host({ name: 'one-change-host', gpus: 2, nvme: 1 });
    const nvme = (await seed.devices(hostId)).find((device) => device.kind === 'NVME')!;
    agent.devices = agent.devices.map((device) => (device.kind === 'NVME' ? { ...device, productName: 'Renamed by a newer pci.ids' } : device));

    const announced = watchAnnouncements();
    const written = await countWrites(() => agent.reportInventory());
    expect(written).toHaveLength(1);
    expect(written[0]).toMatch(/^update "devices"/i);
    expect(announced.map((change) => change.split(':')[0])).toEqual(['device']);
    const { node } = await server.client.data(DEVICE_PRODUCT, { id: nvme.id });
    expect(member(node!, 'Device').productName).toBe('Renamed by a newer pci.ids');
    await agent.disconnect();
  });

  it('a report with new host facts writes and announces the host, not its devices', async () => {
    const { id: hostId, agent } = await seed.cluster().host({ name: 'facts-host', gpus: 1 });
    const announced = watchAnnouncements();
    const written = await countWrites(() =>
      agent.client.data(REPORT_INVENTORY, {
        input: { facts: { cpuCores: 128, memoryMb: 512 * 1024, iommuEnabled: true }, devices: agent.devices },
      }),
    );
    expect(written).toHaveLength(1);
    expect(written[0]).toMatch(/^update "hosts"/i);
    expect(announced.map((change) => change.split(':')[0])).toEqual(['host']);
    expect((await server.client.data(HOST_CORES, { id: hostId })).host!.cpuCores).toBe(128);
    await agent.disconnect();
  });
});
