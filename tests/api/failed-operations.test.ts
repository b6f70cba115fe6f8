import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { graphql } from '../../protocol/graphql.ts';
import { eventually, member } from '../support/client.ts';
import { Seed } from '../support/seed.ts';
import { startTestServer } from '../support/server.ts';
import { DETACH_OPERATION, hostWithVm, mutate, OPERATION, server, settled, startServer } from './support/rules-server.ts';

const OPERATION_OUTCOME = graphql(`query($id: ID!) { node(id: $id) { ... on Operation { status error } } }`);
const LAST_TRANSITION = graphql(`query($id: ID!) { node(id: $id) { __typename ... on Device { history(last: 1) { fromStatus toStatus note } } } }`);

beforeAll(startServer);
afterAll(() => server.stop());

describe('operation outcomes', () => {
  it('a failed operation returns the device to where it was and keeps the error', async () => {
    const { devices, agent } = await hostWithVm();
    agent.respond = () => ({ succeeded: false, error: 'vfio-pci: probe of 0000:41:00.0 failed with error -22' });
    const nvme = devices.find((d) => d.kind === 'NVME')!;
    const { operation } = member(await mutate.detachDevice({ deviceId: nvme.id }), 'DeviceOperationSuccess');
    await settled(nvme.id, 'ATTACHED');
    const { node } = await server.client.data(OPERATION_OUTCOME, { id: operation.id });
    expect(node).toEqual({ status: 'FAILED', error: 'vfio-pci: probe of 0000:41:00.0 failed with error -22' });
    const history = await server.client.data(LAST_TRANSITION, { id: nvme.id });
    expect(member(history.node!, 'Device').history).toEqual([{ fromStatus: 'DETACHING', toStatus: 'ATTACHED', note: 'vfio-pci: probe of 0000:41:00.0 failed with error -22' }]);
  });

  it('an operation not completed in time fails and reverts; the next inventory report settles the truth', async () => {
    const quick = await startTestServer({ config: { operationTimeoutMs: 400, operationQueueTimeoutMs: 400, sweepIntervalMs: 100 } });
    try {
      const quickSeed = new Seed(quick.client, quick.url);
      const cluster = await quickSeed.cluster();
      const { id: hostId, agent } = await cluster.host({ name: 'slow-host', nvme: 1 });
      agent.respond = () => 'hold';
      const [nvme] = await quickSeed.devices(hostId);
      const detachDevice = member((await quick.client.data(DETACH_OPERATION, { id: nvme!.id })).detachDevice, 'DeviceOperationSuccess');
      await eventually(async () => (await quickSeed.device(nvme!.id)).status === 'ATTACHED');
      const node = member((await quick.client.data(OPERATION, { id: detachDevice.operation.id })).node!, 'Operation');
      expect(node.status).toBe('FAILED');
      expect(node.error).toBe("The host's agent did not pick it up within 0.4 s (the queue timeout); nothing was done on the host");

      // The agent did bind it after all; its late answer is refused and its next report wins.
      const late = await agent.complete(detachDevice.operation.id, true);
      expect(late.completeOperation.__typename).toBe('OperationFinishedError');
      agent.devices = agent.devices.map((d) => ({ ...d, driver: 'vfio-pci' }));
      await agent.reportInventory();
      expect((await quickSeed.device(nvme!.id)).status).toBe('DETACHED');
      await agent.disconnect();
    } finally {
      await quick.stop();
    }
  });
});
