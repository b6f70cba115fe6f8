import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { graphql } from '../../protocol/graphql.ts';
import { eventually, member } from '../support/client.ts';
import { ADMIN } from '../support/server.ts';
import { admin, clients, DETACH_OPERATION, fixture, logLines, startFleet, stopFleet } from './support/callers.ts';

const DETACH = graphql(`mutation($id: ID!) { detachDevice(input: { deviceId: $id }) { __typename } }`);
const STOP_VM = graphql(`mutation($id: ID!) { stopVm(input: { vmId: $id }) { __typename } }`);
const SECRET_CHECK_TOKEN = graphql(`mutation { createApiToken(input: { name: "secret-check", role: VIEWER }) { __typename ... on CreateApiTokenSuccess { token } } }`);
const OPERATION_FINISHED = graphql(`query($id: ID!) { node(id: $id) { __typename ... on Operation { status finishedAt } } }`);
const DEVICE_OPERATION_ACTORS = graphql(`query($id: ID!) { operations(filter: { deviceId: $id }) { nodes { actor } } }`);
const AUDIT_TARGETS = graphql(`query($t: ID!) { auditLog(target: $t, first: 10) { nodes { actor action outcome targets } } }`);
const AUDIT_REFUSALS = graphql(`query($t: ID!) { auditLog(target: $t, first: 10) { nodes { actor action outcome } } }`);
const AUDIT_DETAILS = graphql(`{ auditLog(first: 500) { nodes { action details } } }`);
const AUDIT_ALL_DETAILS = graphql(`{ auditLog(first: 500) { nodes { details } } }`);
const AUDIT_ACTIONS = graphql(`query($t: ID!) { auditLog(target: $t) { nodes { action } } }`);
const AUDIT_OUTCOMES = graphql(`query($t: ID!) { auditLog(target: $t) { nodes { action outcome } } }`);

beforeAll(startFleet);
afterAll(stopFleet);

describe('audit trail', () => {
  it('records who did what, refused calls included, with secrets redacted', async () => {
    const f = await fixture();
    await clients.operator.data(DETACH, { id: f.attached });
    await clients.viewer.data(STOP_VM, { id: f.vmId });
    const { auditLog } = await admin.data(AUDIT_TARGETS, { t: f.attached });
    expect(auditLog.nodes[0]).toMatchObject({ actor: expect.stringMatching(/^token:operator\//), action: 'detachDevice', outcome: 'OK' });
    const { auditLog: refusals } = await admin.data(AUDIT_REFUSALS, { t: f.vmId });
    expect(refusals.nodes[0]).toMatchObject({ actor: expect.stringMatching(/^token:viewer\//), action: 'stopVm', outcome: 'NotAuthorizedError' });

    const { auditLog: all } = await admin.data(AUDIT_DETAILS);
    const signIns = all.nodes.filter((n) => n.action === 'signIn');
    expect(signIns.length).toBeGreaterThan(0);
    for (const entry of signIns) expect(JSON.parse(entry.details).input.password).toBe('[redacted]');
    // A mutation that returns a node names it as its target.
    const { auditLog: created } = await admin.data(AUDIT_ACTIONS, { t: f.userId });
    expect(created.nodes.map((n) => n.action)).toContain('createUser');
    const { operations } = await admin.data(DEVICE_OPERATION_ACTORS, { id: f.attached });
    expect(operations.nodes[0]!.actor).toMatch(/^token:operator\//);
  });

  it("an agent's acknowledgements are audited only when refused: the operation's own record keeps them", async () => {
    const f = await fixture();
    f.agent.respond = () => ({ succeeded: true });
    const { detachDevice } = await clients.operator.data(DETACH_OPERATION, { id: f.attached });
    const operationId = member(detachDevice, 'DeviceOperationSuccess').operation.id;
    const finished = await eventually(async () => {
      const node = member((await admin.data(OPERATION_FINISHED, { id: operationId })).node!, 'Operation');
      return node.status === 'SUCCEEDED' && node;
    });
    expect(finished.finishedAt).not.toBeNull();
    const { auditLog } = await admin.data(AUDIT_OUTCOMES, { t: operationId });
    expect(auditLog.nodes).toEqual([{ action: 'detachDevice', outcome: 'OK' }]);
  });

  it('passwords and tokens never appear in the logs or the audit trail', async () => {
    const { createApiToken } = await admin.data(SECRET_CHECK_TOKEN);
    const secrets = [ADMIN.password, 'viewer password 123', 'operator password 123', 'token' in createApiToken ? createApiToken.token : undefined, admin.token!, clients.viewer.token!];
    const { auditLog } = await admin.data(AUDIT_ALL_DETAILS);
    const trail = JSON.stringify(auditLog);
    const logs = logLines.join('');
    expect(logs.length).toBeGreaterThan(0);
    for (const secret of secrets) {
      expect(logs).not.toContain(secret);
      expect(trail).not.toContain(secret);
    }
  });
});
