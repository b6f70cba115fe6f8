import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sql } from 'drizzle-orm';
import { graphql } from '../../protocol/graphql.ts';
import { eventually, member } from '../support/client.ts';
import { expectRefused, hostWithVm, mutate, seed, server, settled, startServer, unique, VM_STATUS } from './support/rules-server.ts';

const HOST_STATUS = graphql(`query($id: ID!) { host(id: $id) { status } }`);
const FITS = graphql(`query($p: ID!, $h: ID!) { capacity(planId: $p, hostId: $h) { fits } }`);

beforeAll(startServer);
afterAll(() => server.stop());

describe('device rules', () => {
  it('keeps an IOMMU group with one VM: a function whose group-mate another VM holds is neither assigned nor provisioned', async () => {
    const gpu = { kind: 'GPU' as const, address: '0000:47:00.0', vendorId: '10de', productId: '2204', iommuGroup: 21, numaNode: 0, driver: 'vfio-pci' };
    const audio = { kind: 'PCI' as const, address: '0000:47:00.1', vendorId: '10de', productId: '1aef', iommuGroup: 21, numaNode: 0, driver: 'vfio-pci' };
    const { devices, vmId, id: hostId, planId } = await hostWithVm([gpu, audio]);
    const [vmB] = [member(await mutate.provisionVm({ name: unique('vm-b'), planId, hostId }), 'VmOperationSuccess').vm.id];
    await eventually(async () => (await server.client.data(VM_STATUS, { id: vmB })).vm!.status === 'RUNNING');
    const gpuRow = devices.find((d) => d.address === gpu.address)!;
    const audioRow = devices.find((d) => d.address === audio.address)!;

    // Assigning takes the whole group now; a host can still report one function in a domain alone.
    await holdAlone(audioRow.id, vmB);
    await expectRefused(
      'IommuGroupInUseError',
      () => mutate.assignDevice({ deviceId: gpuRow.id, vmId }),
      /shares IOMMU group 21 with 0000:47:00\.1, which VM vm-b-\w+ holds/,
    );
    // A plan's GPU is never one whose group-mate another VM holds either.
    const { id: gpuPlan } = await seed.plan({ name: unique('group-plan'), gpuCount: 1 });
    const { capacity } = await server.client.data(FITS, { p: gpuPlan, h: hostId });
    expect(capacity.fits).toBe(false);
    // The same VM may take the rest of its group.
    expect((await mutate.assignDevice({ deviceId: gpuRow.id, vmId: vmB })).__typename).toBe('DeviceOperationSuccess');
  });

  it('assigns only a DETACHED device', async () => {
    const { devices, vmId } = await hostWithVm();
    const attached = devices.find((d) => d.kind === 'USB')!;
    const refusal = await expectRefused('InvalidTransitionError', () => mutate.assignDevice({ deviceId: attached.id, vmId }), /detach it into the pool first/);
    expect(refusal).toMatchObject({ status: 'ATTACHED' });
  });

  it('assigns only to a VM on the same host', async () => {
    const a = await hostWithVm();
    const b = await hostWithVm();
    const usb = a.devices.find((d) => d.kind === 'USB')!;
    await mutate.detachDevice({ deviceId: usb.id });
    await settled(usb.id, 'DETACHED');
    await expectRefused('WrongHostError', () => mutate.assignDevice({ deviceId: usb.id, vmId: b.vmId }), /only be assigned to a VM on its own host/);
  });

  it('never detaches or reattaches an ASSIGNED device', async () => {
    const { devices, vmId } = await hostWithVm();
    const gpu = devices.find((d) => d.kind === 'GPU')!;
    expect(gpu.status).toBe('DETACHED');
    await mutate.assignDevice({ deviceId: gpu.id, vmId });
    await settled(gpu.id, 'ASSIGNED');
    await expectRefused('InvalidTransitionError', () => mutate.detachDevice({ deviceId: gpu.id }), /is assigned to vm-\d+; release it first/);
    await expectRefused('InvalidTransitionError', () => mutate.attachDevice({ deviceId: gpu.id }), /release it first/);
  });

  it('moves PCI functions sharing an IOMMU group together, and the operation lists them all', async () => {
    const hardware = [
      { kind: 'GPU' as const, address: '0000:65:00.0', vendorId: '10de', productId: '2204', iommuGroup: 42, driver: 'nvidia' },
      { kind: 'PCI' as const, address: '0000:65:00.1', vendorId: '10de', productId: '1aef', iommuGroup: 42, driver: 'snd_hda_intel' },
      { kind: 'NVME' as const, address: '0000:01:00.0', vendorId: '144d', productId: 'a80a', iommuGroup: 7, driver: 'nvme' },
    ];
    const { devices, agent } = await hostWithVm(hardware);
    const gpu = devices.find((d) => d.address === '0000:65:00.0')!;
    const result = member(await mutate.detachDevice({ deviceId: gpu.id }), 'DeviceOperationSuccess');
    expect(result.devices.map((d) => d.address).sort()).toEqual(['0000:65:00.0', '0000:65:00.1']);
    expect(result.devices.every((d) => ['DETACHING', 'DETACHED'].includes(d.status))).toBe(true);
    await settled(gpu.id, 'DETACHED');
    const audio = devices.find((d) => d.address === '0000:65:00.1')!;
    expect((await seed.device(audio.id)).status).toBe('DETACHED');
    expect(agent.received.at(-1)!.devices.map((d) => d.address).sort()).toEqual(['0000:65:00.0', '0000:65:00.1']);
    const nvme = devices.find((d) => d.kind === 'NVME')!;
    expect((await seed.device(nvme.id)).status).toBe('ATTACHED');

    // Reattaching the audio function brings the GPU back too.
    await mutate.attachDevice({ deviceId: audio.id });
    await settled(gpu.id, 'ATTACHED');
  });

  it('refuses a group move when any member cannot move, naming it', async () => {
    const hardware = [
      { kind: 'GPU' as const, address: '0000:65:00.0', vendorId: '10de', productId: '2204', iommuGroup: 42, driver: 'vfio-pci' },
      { kind: 'PCI' as const, address: '0000:65:00.1', vendorId: '10de', productId: '1aef', iommuGroup: 42, driver: 'vfio-pci' },
    ];
    const { devices, vmId } = await hostWithVm(hardware);
    const gpu = devices.find((d) => d.address === '0000:65:00.0')!;
    const audio = devices.find((d) => d.address === '0000:65:00.1')!;
    await holdAlone(audio.id, vmId);
    await expectRefused('InvalidTransitionError', () => mutate.attachDevice({ deviceId: gpu.id }), /PCI 0000:65:00.1 cannot be attached: it is assigned/);
  });

  it('refuses any action on a device of an OFFLINE host', async () => {
    const { devices, agent, id: hostId } = await hostWithVm();
    await server.app.database.db.execute(sql`update hosts set status = 'OFFLINE' where id = ${(await hostDbId(hostId))}`);
    const usb = devices.find((d) => d.kind === 'USB')!;
    await expectRefused('HostOfflineError', () => mutate.detachDevice({ deviceId: usb.id }), /is offline/);
    await agent.heartbeat();
    // Heartbeats are written in batches: the host is ONLINE again within one flush interval.
    await eventually(async () => (await server.client.data(HOST_STATUS, { id: hostId })).host!.status === 'ONLINE');
    expect((await mutate.detachDevice({ deviceId: usb.id })).__typename).toBe('DeviceOperationSuccess');
  });

  it('refuses a second action while an operation is in flight', async () => {
    const { devices, agent } = await hostWithVm();
    agent.respond = () => 'hold';
    const usb = devices.find((d) => d.kind === 'USB')!;
    await mutate.detachDevice({ deviceId: usb.id });
    await expectRefused('InvalidTransitionError', () => mutate.detachDevice({ deviceId: usb.id }), /busy \(detaching\)/);
  });
});

/** Puts one function of a group in a VM without the rest, as a host's report of its domains can. */
async function holdAlone(deviceId: string, vmId: string) {
  await server.app.database.db.execute(sql`update devices set status = 'ASSIGNED', vm_id = ${await hostDbId(vmId)} where id = ${await hostDbId(deviceId)}`);
}

async function hostDbId(globalId: string) {
  return Buffer.from(globalId, 'base64').toString().split(':')[1]!;
}
