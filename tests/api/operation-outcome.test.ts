import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { graphql, type VariablesOf } from '../../protocol/graphql.ts';
import { type TestAgent } from '../support/agent.ts';
import { eventually, member } from '../support/client.ts';
import { Seed } from '../support/seed.ts';
import { startTestServer, type TestServer } from '../support/server.ts';
import { stateSnapshot } from '../support/snapshot.ts';

let server: TestServer;
let seed: Seed;

beforeAll(async () => {
  server = await startTestServer();
  seed = new Seed(server.client, server.url);
});
afterAll(() => server.stop());

const DETACH = graphql(`mutation($id: ID!) { detachDevice(input: { deviceId: $id }) { __typename } }`);
const COMPLETE = graphql(`mutation($input: CompleteOperationInput!) { completeOperation(input: $input) { __typename ... on Operation { status } ... on Error { message } } }`);
const DEVICE_NOW = graphql(`query($id: ID!) { node(id: $id) { __typename ... on Device { status driver } } }`);
type Observed = NonNullable<VariablesOf<typeof COMPLETE>['input']['devices']>[number];

/** A host with one NVMe drive on its own driver, whose agent holds every operation for the test to answer. */
async function hostHoldingOperations(name: string) {
  const { id: hostId, agent } = await seed.cluster().host({ name, nvme: 1 });
  agent.respond = () => 'hold';
  const [nvme] = await seed.devices(hostId);
  return { agent, nvme: nvme! };
}

async function detach(agent: TestAgent, deviceId: string) {
  await server.client.data(DETACH, { id: deviceId });
  return eventually(async () => agent.received.find((operation) => operation.devices.some((device) => device.id === deviceId)));
}

async function complete(agent: TestAgent, operationId: string, succeeded: boolean, devices: Observed[]) {
  const { completeOperation } = await agent.client.data(COMPLETE, { input: { operationId, succeeded, devices } });
  return completeOperation;
}

async function deviceNow(id: string) {
  const { node } = await server.client.data(DEVICE_NOW, { id });
  const { __typename, ...device } = member(node!, 'Device');
  return device;
}

describe('completeOperation carries what the agent now observes', () => {
  it('a completed detach settles the device driver to vfio-pci without an inventory report', async () => {
    const { agent, nvme } = await hostHoldingOperations('outcome-host');
    expect(await deviceNow(nvme.id)).toEqual({ status: 'ATTACHED', driver: 'nvme' });
    const operation = await detach(agent, nvme.id);

    expect(await complete(agent, operation.id, true, [{ address: nvme.address, driver: 'vfio-pci', present: true }])).toMatchObject({ status: 'SUCCEEDED' });

    expect(await deviceNow(nvme.id)).toEqual({ status: 'DETACHED', driver: 'vfio-pci' });
    await agent.disconnect();
  });

  it("the host's view wins: a detach reported done whose drive is still on its driver stays ATTACHED", async () => {
    const { agent, nvme } = await hostHoldingOperations('still-bound-host');
    const operation = await detach(agent, nvme.id);

    await complete(agent, operation.id, true, [{ address: nvme.address, driver: 'nvme', present: true }]);

    expect(await deviceNow(nvme.id)).toEqual({ status: 'ATTACHED', driver: 'nvme' });
    await agent.disconnect();
  });

  it('a device observed gone when its operation ends becomes MISSING', async () => {
    const { agent, nvme } = await hostHoldingOperations('pulled-host');
    const operation = await detach(agent, nvme.id);

    await complete(agent, operation.id, false, [{ address: nvme.address, driver: null, present: false }]);

    expect((await deviceNow(nvme.id)).status).toBe('MISSING');
    await agent.disconnect();
  });

  it('an observation of a device the operation did not move is refused and changes nothing', async () => {
    const { agent, nvme } = await hostHoldingOperations('stranger-host');
    const operation = await detach(agent, nvme.id);
    const before = await stateSnapshot(server.app.database.db);

    const refusal = await complete(agent, operation.id, true, [
      { address: nvme.address, driver: 'vfio-pci', present: true },
      { address: '0000:99:00.0', driver: 'vfio-pci', present: true },
    ]);

    expect(refusal.__typename).toBe('ValidationError');
    expect('message' in refusal ? refusal.message : undefined).toMatch(/0000:99:00.0 is not one this operation moved/);
    expect(await stateSnapshot(server.app.database.db)).toEqual(before);
    await agent.disconnect();
  });
});
