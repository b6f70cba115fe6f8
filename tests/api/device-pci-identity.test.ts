// A device's PCI class code, subsystem IDs and revision travel from the agent's report to the
// devices table and the Device type; malformed ones are refused, by the API and the database.

import { sql } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { graphql } from '../../protocol/graphql.ts';
import { Seed } from '../support/seed.ts';
import { startTestServer, type TestServer } from '../support/server.ts';
import { stateSnapshot } from '../support/snapshot.ts';
import { checkDefinition, violatedBy } from '../support/constraints.ts';
import { hexPattern, PCI_IDENTITY_DIGITS, PCI_IDENTITY_FIELDS } from '../../protocol/rules.ts';

const PCI_IDENTITY = graphql(`query($id: ID!) { host(id: $id) { devices { nodes { address classCode subsystemVendorId subsystemProductId revision } } } }`);

let server: TestServer;
let seed: Seed;

beforeAll(async () => {
  server = await startTestServer();
  seed = new Seed(server.client, server.url);
});
afterAll(() => server.stop());

const H100 = {
  kind: 'GPU' as const,
  address: '0000:17:00.0',
  vendorId: '10de',
  productId: '2330',
  vendorName: 'NVIDIA Corporation',
  productName: 'GH100 [H100 SXM5 80GB]',
  classCode: '030200',
  subsystemVendorId: '10de',
  subsystemProductId: '16c1',
  revision: 'a1',
};

describe('PCI class code, subsystem IDs and revision', () => {
  it('are stored from the inventory report and shown on Device', async () => {
    const { id: hostId } = await seed.cluster().host({ name: 'pci-identity-host', devices: [H100, { kind: 'USB', address: '1-1', vendorId: '046d', productId: 'c31c' }] });
    const data = await server.client.data(
      PCI_IDENTITY,
      { id: hostId },
    );
    expect(data.host!.devices.nodes).toEqual([
      { address: '0000:17:00.0', classCode: '030200', subsystemVendorId: '10de', subsystemProductId: '16c1', revision: 'a1' },
      { address: '1-1', classCode: null, subsystemVendorId: null, subsystemProductId: null, revision: null },
    ]);
  });

  it('a report with a malformed class code, subsystem ID or revision is refused with a ValidationError and changes nothing', async () => {
    const { agent } = await seed.cluster().host({ name: 'pci-identity-refused', devices: [H100] });
    const before = await stateSnapshot(server.app.database.db);
    for (const [field, value, message] of [
      ['classCode', '0x030200', /classCode "0x030200"; expected 6 lowercase hex digits/],
      ['subsystemVendorId', '10DE', /subsystemVendorId "10DE"; expected 4 lowercase hex digits/],
      ['subsystemProductId', '16c', /subsystemProductId "16c"; expected 4 lowercase hex digits/],
      ['revision', 'a1 ', /revision "a1 "; expected 2 lowercase hex digits/],
    ] as const) {
      agent.devices = [{ ...H100, [field]: value }];
      await expect(agent.reportInventory()).rejects.toThrow(message);
    }
    expect(await stateSnapshot(server.app.database.db)).toEqual(before);
  });

  it('the devices_pci_identity_hex constraint holds the format in the database too', async () => {
    await seed.cluster().host({ name: 'pci-identity-check', devices: [H100] });
    const definition = await checkDefinition(server.app.database.db, 'devices_pci_identity_hex');
    for (const field of PCI_IDENTITY_FIELDS) {
      const column = field.replace(/[A-Z]/g, (letter) => `_${letter.toLowerCase()}`);
      expect(definition).toContain(`${column} ~ '${hexPattern(PCI_IDENTITY_DIGITS[field])}'`);
    }
    const update = server.app.database.db.execute(sql`update devices set revision = 'A1' where host_id = (select id from hosts where name = 'pci-identity-check')`);
    expect(await violatedBy(update)).toBe('devices_pci_identity_hex');
  });
});
