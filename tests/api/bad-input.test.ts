import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { graphql } from '../../protocol/graphql.ts';
import { stateSnapshot } from '../support/snapshot.ts';
import { hostNameProblem, PLAN_LIMIT_FIELDS, PLAN_LIMITS, rangeProblem, vmNameProblem } from '../../protocol/rules.ts';
import { expectRefused, hostWithVm, mutate, server, startServer, unique } from './support/rules-server.ts';

const NODE_ID = graphql(`query($id: ID!) { node(id: $id) { id } }`);

beforeAll(startServer);
afterAll(() => server.stop());

describe('bad input', () => {
  it('unknown IDs and IDs of the wrong type are NotFoundErrors', async () => {
    const { vmId, devices } = await hostWithVm();
    const missingDevice = Buffer.from('Device:00000000-0000-4000-8000-000000000000').toString('base64');
    await expectRefused('NotFoundError', () => mutate.detachDevice({ deviceId: missingDevice }));
    await expectRefused('NotFoundError', () => mutate.detachDevice({ deviceId: vmId }), /No Device/);
    await expectRefused('NotFoundError', () => mutate.detachDevice({ deviceId: 'not-an-id' }));
    await expectRefused('NotFoundError', () => mutate.assignDevice({ deviceId: devices[0]!.id, vmId: devices[0]!.id }), /No VM/);
    await expectRefused('NotFoundError', () => mutate.detachDevice({ deviceId: 'x'.repeat(100_000) }));
    const { node } = await server.client.data(NODE_ID, { id: missingDevice });
    expect(node).toBeNull();
  });

  it('negative, absurd or inconsistent plan values are refused', async () => {
    const base = { name: unique('plan'), provisionType: 'KVM' as const, cores: 4, memoryMb: 8192, diskGb: 50 };
    await expectRefused('ValidationError', () => mutate.createServicePlan({ ...base, cores: -1 }), /cores must be/);
    await expectRefused('ValidationError', () => mutate.createServicePlan({ ...base, memoryMb: 2 ** 31 - 1 }), /memoryMb/);
    await expectRefused('ValidationError', () => mutate.createServicePlan({ ...base, gpuCount: 1000 }), /gpuCount/);
    await expectRefused('ValidationError', () => mutate.createServicePlan({ ...base, provisionType: 'LXC', gpuCount: 1 }), /only meaningful for KVM/);
    await expectRefused('ValidationError', () => mutate.createServicePlan({ ...base, gpuProductId: '2204' }), /needs its vendor/);
    await expectRefused('ValidationError', () => mutate.createServicePlan({ ...base, gpuVendorId: 'nvidia' }), /4 hex digits/);
    await expectRefused('ValidationError', () => mutate.createServicePlan({ ...base, name: 'p'.repeat(65) }), /1 to 64 characters/);
    expect((await mutate.createServicePlan(base)).__typename).toBe('ServicePlan');
    await expectRefused('ValidationError', () => mutate.createServicePlan(base), /already exists/);
  });

  it('each plan limit is refused past either bound with the words of protocol/rules.ts, as the console says them', async () => {
    const base = { name: unique('limits'), provisionType: 'KVM' as const, cores: 4, memoryMb: 8192, diskGb: 50, gpuCount: 0 };
    for (const field of PLAN_LIMIT_FIELDS) {
      for (const value of [PLAN_LIMITS[field].min - 1, PLAN_LIMITS[field].max + 1]) {
        const refused = await expectRefused('ValidationError', () => mutate.createServicePlan({ ...base, [field]: value }));
        expect(refused.message).toBe(rangeProblem(field, value));
      }
    }
  });

  it('names are refused with the words of protocol/rules.ts, as the console says them', async () => {
    const { planId, id: hostId } = await hostWithVm();
    for (const name of ['v'.repeat(64), '-x', '42']) {
      expect((await expectRefused('ValidationError', () => mutate.provisionVm({ name, planId, hostId }))).message).toBe(vmNameProblem(name));
    }
    expect((await expectRefused('ValidationError', () => mutate.createCluster({ name: 'has space' }))).message).toBe(hostNameProblem('has space', 'Cluster'));
  });

  it('over-long and malformed names are refused', async () => {
    const { planId, id: hostId } = await hostWithVm();
    await expectRefused('ValidationError', () => mutate.provisionVm({ name: 'v'.repeat(64), planId, hostId }), /1 to 63/);
    await expectRefused('ValidationError', () => mutate.provisionVm({ name: '../etc', planId, hostId }), /not valid/);
    await expectRefused('ValidationError', () => mutate.provisionVm({ name: '42', planId, hostId }), /domain ID/);
    await expectRefused('ValidationError', () => mutate.createCluster({ name: 'c'.repeat(65) }));
    await expectRefused('ValidationError', () => mutate.provisionVm({ name: 'ok', planId }), /cluster/);
  });

  it('a malformed query gets an error and runs nothing', async () => {
    const before = await stateSnapshot(server.app.database.db);
    const result = await server.client.request(`mutation { createCluster(input: { name: "x" }) { ... on Cluster { id } `);
    expect(result.errors?.[0]?.message).toMatch(/Syntax Error/);
    expect(await stateSnapshot(server.app.database.db)).toEqual(before);
  });
});
