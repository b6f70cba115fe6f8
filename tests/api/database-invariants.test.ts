import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sql } from 'drizzle-orm';
import { queryRows } from '../support/snapshot.ts';
import { violatedBy } from '../support/constraints.ts';
import { hostWithVm, server, startServer } from './support/rules-server.ts';

beforeAll(startServer);
afterAll(() => server.stop());

describe('database invariants', () => {
  it('a device row cannot name a VM unless its status holds one, nor hold one without naming it', async () => {
    const { devices, vmId } = await hostWithVm();
    const vm = Buffer.from(vmId, 'base64').toString().split(':')[1]!;
    const usb = Buffer.from(devices.find((d) => d.kind === 'USB')!.id, 'base64').toString().split(':')[1]!;
    expect(await violatedBy(server.app.database.db.execute(sql`update devices set vm_id = ${vm} where id = ${usb}`))).toBe('devices_vm_matches_status');
    expect(await violatedBy(server.app.database.db.execute(sql`update devices set status = 'ASSIGNED' where id = ${usb}`))).toBe('devices_vm_matches_status');
  });

  it('a device row cannot name a VM on another host', async () => {
    const a = await hostWithVm();
    const b = await hostWithVm();
    const vm = Buffer.from(b.vmId, 'base64').toString().split(':')[1]!;
    const usb = Buffer.from(a.devices.find((d) => d.kind === 'USB')!.id, 'base64').toString().split(':')[1]!;
    expect(await violatedBy(server.app.database.db.execute(sql`update devices set status = 'ASSIGNED', vm_id = ${vm} where id = ${usb}`))).toBe(
      'devices_vm_same_host_fk',
    );
    const rows = await queryRows<{ n: number }>(server.app.database.db, sql`select count(*)::int as n from devices where vm_id is not null and status not in ('ASSIGNING', 'ASSIGNED', 'RELEASING')`);
    expect(rows[0]!.n).toBe(0);
  });
});
