import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { graphql } from '../../protocol/graphql.ts';
import { eventually, member } from '../support/client.ts';
import { expectRefused, hostWithVm, mutate, seed, server, settled, startServer, unique, VM_STATUS } from './support/rules-server.ts';

const WATCH_PLANS = graphql(`subscription { servicePlanChanged { planId plan { name cores } } }`);
const VM_DELETED = graphql(`query($id: ID!) { vm(id: $id) { status deletedAt } }`);

beforeAll(startServer);
afterAll(() => server.stop());

describe('plans and VMs', () => {
  it('plan changes are announced live, deletions included', async () => {
    const watch = server.client.subscribe(WATCH_PLANS);
    await new Promise((resolve) => setTimeout(resolve, 200));
    const name = unique('announced');
    const { id: planId } = await seed.plan({ name, gpuCount: 0 });
    await watch.next((e) => e.data?.servicePlanChanged.plan?.name === name);
    await mutate.updateServicePlan({ planId, cores: 16 });
    await watch.next((e) => e.data?.servicePlanChanged.plan?.cores === 16);
    await mutate.deleteServicePlan({ planId });
    await watch.next((e) => e.data?.servicePlanChanged.planId === planId && e.data.servicePlanChanged.plan === null);
    watch.close();
  });

  it('a plan cannot be deleted while VMs use it', async () => {
    const { planId } = await hostWithVm();
    await expectRefused('PlanInUseError', () => mutate.deleteServicePlan({ planId }), /used by 1 VM/);
  });

  it('a VM keeps its devices while stopped, and deleteVm returns every device to the pool', async () => {
    const { devices, vmId, planId } = await hostWithVm();
    const gpus = devices.filter((d) => d.kind === 'GPU');
    for (const gpu of gpus) await mutate.assignDevice({ deviceId: gpu.id, vmId });
    for (const gpu of gpus) await settled(gpu.id, 'ASSIGNED');

    await mutate.stopVm({ vmId });
    await eventually(async () => (await server.client.data(VM_STATUS, { id: vmId })).vm!.status === 'STOPPED');
    for (const gpu of gpus) expect((await seed.device(gpu.id)).status).toBe('ASSIGNED');
    await expectRefused('VmBusyError', () => mutate.stopVm({ vmId }), /stopped/);

    const { devices: releasing } = member(await mutate.deleteVm({ vmId }), 'VmOperationSuccess');
    expect(releasing.map((d) => d.id).sort()).toEqual(gpus.map((g) => g.id).sort());
    for (const gpu of gpus) await settled(gpu.id, 'DETACHED');
    const { vm } = await server.client.data(VM_DELETED, { id: vmId });
    expect(vm!.status).toBe('DELETED');
    await expectRefused('NotFoundError', () => mutate.deleteVm({ vmId }));
    // With its only VM gone, the plan can go too.
    expect((await mutate.deleteServicePlan({ planId })).__typename).toBe('DeleteServicePlanSuccess');
  });
});
