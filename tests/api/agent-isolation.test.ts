import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { graphql } from '../../protocol/graphql.ts';
import { TestAgent } from '../support/agent.ts';
import { member } from '../support/client.ts';
import { stateSnapshot } from '../support/snapshot.ts';
import { hostWithVm, mutate, server, startServer } from './support/rules-server.ts';

const HEARTBEAT = graphql(`mutation { heartbeat { __typename ... on Error { message } } }`);
const AGENT_OPERATIONS = graphql(`subscription { agentOperations { id } }`);
const ROTATE_HOST_TOKEN = graphql(`mutation($id: ID!) { rotateHostToken(input: { hostId: $id }) { __typename ... on EnrollHostSuccess { token } } }`);

beforeAll(startServer);
afterAll(() => server.stop());

describe('agent isolation', () => {
  it('agent calls need a host token', async () => {
    for (const call of [HEARTBEAT]) {
      const data = await server.client.data(call);
      expect(data.heartbeat.__typename).toBe('NotAuthorizedError');
    }
    const stream = server.client.subscribe(AGENT_OPERATIONS);
    await expect(stream.next((e) => Boolean(e.errors))).resolves.toMatchObject({ errors: [{ message: expect.stringMatching(/host agents/) }] });
  });

  it("an agent cannot complete another host's operation", async () => {
    const a = await hostWithVm();
    const b = await hostWithVm();
    a.agent.respond = () => 'hold';
    const usb = a.devices.find((d) => d.kind === 'USB')!;
    const { operation } = member(await mutate.detachDevice({ deviceId: usb.id }), 'DeviceOperationSuccess');
    const before = await stateSnapshot(server.app.database.db);
    const answer = await b.agent.complete(operation.id, true);
    expect(answer.completeOperation.__typename).toBe('NotFoundError');
    expect(await stateSnapshot(server.app.database.db)).toEqual(before);
  });

  it('a rotated token stops working at once', async () => {
    const { id: hostId, token } = await hostWithVm();
    const rotateHostToken = member((await server.client.data(ROTATE_HOST_TOKEN, { id: hostId })).rotateHostToken, 'EnrollHostSuccess');
    const stale = new TestAgent(server.url, token, []);
    expect((await stale.heartbeat()).heartbeat.__typename).toBe('NotAuthorizedError');
    const fresh = new TestAgent(server.url, rotateHostToken.token, []);
    expect((await fresh.heartbeat()).heartbeat.__typename).toBe('Host');
  });
});
