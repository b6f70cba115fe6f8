import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { graphql } from '../../protocol/graphql.ts';
import { member, TestClient, type GraphQLResponse } from '../support/client.ts';
import { ADMIN, sessionClient, signedInClient } from '../support/server.ts';
import { stateSnapshot } from '../support/snapshot.ts';
import { decodeGlobalID } from '@pothos/plugin-relay';
import {
  admin, allowed, app, clients, CREATE_USER, DETACH_OPERATION, EVERYONE, fixture, hostB, ME, REVOKE_TOKEN, seed, startFleet, stopFleet, unique, url,
  type Fixture, type Needs, type Who,
} from './support/callers.ts';

const UPDATE_USER = graphql(`mutation($input: UpdateUserInput!) { updateUser(input: $input) { __typename } }`);
const USERS = graphql(`{ users { id username } }`);
const MINE_TOKEN = graphql(`mutation { createApiToken(input: { name: "mine", role: VIEWER }) { __typename ... on CreateApiTokenSuccess { apiToken { id } } } }`);
const CHILD_TOKEN = graphql(`mutation { createApiToken(input: { name: "child", role: VIEWER }) { __typename ... on Error { message } } }`);
const START_FOREIGN = graphql(`mutation($id: ID!) { acknowledgement: startOperation(input: { operationId: $id }) { __typename } }`);
const COMPLETE_FOREIGN = graphql(`mutation($id: ID!) { acknowledgement: completeOperation(input: { operationId: $id, succeeded: true }) { __typename } }`);
const DELETE_PLAN = graphql(`mutation($id: ID!) { deleteServicePlan(input: { planId: $id }) { __typename } }`);
const ME_ROLE = graphql(`{ me { username role } }`);
const HOST_IDS = graphql(`{ hosts { nodes { id } } }`);
const AUDIT_ACTORS = graphql(`query($t: ID!) { auditLog(target: $t) { nodes { actor action outcome } } }`);

// Each mutation with the least selection that tells its answers apart, aliased `result` so every call reads alike.
const DETACH_DEVICE_CALL = graphql(`mutation($input: DetachDeviceInput!) { result: detachDevice(input: $input) { __typename ... on Error { message } } }`);
const ATTACH_DEVICE_CALL = graphql(`mutation($input: AttachDeviceInput!) { result: attachDevice(input: $input) { __typename ... on Error { message } } }`);
const ASSIGN_DEVICE_CALL = graphql(`mutation($input: AssignDeviceInput!) { result: assignDevice(input: $input) { __typename ... on Error { message } } }`);
const RELEASE_DEVICE_CALL = graphql(`mutation($input: ReleaseDeviceInput!) { result: releaseDevice(input: $input) { __typename ... on Error { message } } }`);
const PROVISION_VM_CALL = graphql(`mutation($input: ProvisionVmInput!) { result: provisionVm(input: $input) { __typename ... on Error { message } } }`);
const DELETE_VM_CALL = graphql(`mutation($input: DeleteVmInput!) { result: deleteVm(input: $input) { __typename ... on Error { message } } }`);
const STOP_VM_CALL = graphql(`mutation($input: StopVmInput!) { result: stopVm(input: $input) { __typename ... on Error { message } } }`);
const CREATE_SERVICE_PLAN_CALL = graphql(`mutation($input: CreateServicePlanInput!) { result: createServicePlan(input: $input) { __typename ... on Error { message } } }`);
const UPDATE_SERVICE_PLAN_CALL = graphql(`mutation($input: UpdateServicePlanInput!) { result: updateServicePlan(input: $input) { __typename ... on Error { message } } }`);
const CREATE_CLUSTER_CALL = graphql(`mutation($input: CreateClusterInput!) { result: createCluster(input: $input) { __typename ... on Error { message } } }`);
const ENROLL_HOST_CALL = graphql(`mutation($input: EnrollHostInput!) { result: enrollHost(input: $input) { __typename ... on Error { message } } }`);
const ROTATE_HOST_TOKEN_CALL = graphql(`mutation($input: RotateHostTokenInput!) { result: rotateHostToken(input: $input) { __typename ... on Error { message } } }`);
const CREATE_USER_CALL = graphql(`mutation($input: CreateUserInput!) { result: createUser(input: $input) { __typename ... on Error { message } } }`);
const UPDATE_USER_CALL = graphql(`mutation($input: UpdateUserInput!) { result: updateUser(input: $input) { __typename ... on Error { message } } }`);
const CREATE_API_TOKEN_CALL = graphql(`mutation($input: CreateApiTokenInput!) { result: createApiToken(input: $input) { __typename ... on Error { message } } }`);
const SIGN_IN_CALL = graphql(`mutation($input: SignInInput!) { result: signIn(input: $input) { __typename ... on Error { message } } }`);
const SIGN_OUT_CALL = graphql(`mutation { result: signOut { __typename ... on Error { message } } }`);
const HEARTBEAT_CALL = graphql(`mutation { result: heartbeat { __typename ... on Error { message } } }`);
const REPORT_INVENTORY_CALL = graphql(`mutation($input: ReportInventoryInput!) { result: reportInventory(input: $input) { __typename ... on Error { message } } }`);
const START_OPERATION_CALL = graphql(`mutation($input: StartOperationInput!) { result: startOperation(input: $input) { __typename ... on Error { message } } }`);
const COMPLETE_OPERATION_CALL = graphql(`mutation($input: CompleteOperationInput!) { result: completeOperation(input: $input) { __typename ... on Error { message } } }`);

interface Call {
  field: string;
  needs: Needs;
  /** Sends the mutation as `client`, with values from the fixture `f`. */
  send: (client: TestClient, f: Fixture) => Promise<GraphQLResponse<{ result: { __typename: string; message?: string } }>>;
  /** The success typename. */
  success: string;
  /** Agent calls act as the caller's own host: give the call the agent of the fixture's host. */
  asFixtureAgent?: boolean;
}

const MUTATIONS: Call[] = [
  { field: 'detachDevice', needs: 'operator', success: 'DeviceOperationSuccess', send: (client, f) => client.request(DETACH_DEVICE_CALL, { input: { deviceId: f.attached } }) },
  { field: 'attachDevice', needs: 'operator', success: 'DeviceOperationSuccess', send: (client, f) => client.request(ATTACH_DEVICE_CALL, { input: { deviceId: f.detached } }) },
  { field: 'assignDevice', needs: 'operator', success: 'DeviceOperationSuccess', send: (client, f) => client.request(ASSIGN_DEVICE_CALL, { input: { deviceId: f.detached, vmId: f.vmId } }) },
  { field: 'releaseDevice', needs: 'operator', success: 'DeviceOperationSuccess', send: (client, f) => client.request(RELEASE_DEVICE_CALL, { input: { deviceId: f.assigned } }) },
  { field: 'provisionVm', needs: 'operator', success: 'VmOperationSuccess', send: (client, f) => client.request(PROVISION_VM_CALL, { input: { name: unique('vm'), planId: f.planId, hostId: f.hostId } }) },
  { field: 'deleteVm', needs: 'operator', success: 'VmOperationSuccess', send: (client, f) => client.request(DELETE_VM_CALL, { input: { vmId: f.vmId } }) },
  { field: 'stopVm', needs: 'operator', success: 'VmOperationSuccess', send: (client, f) => client.request(STOP_VM_CALL, { input: { vmId: f.vmId } }) },
  { field: 'createServicePlan', needs: 'admin', success: 'ServicePlan', send: (client) => client.request(CREATE_SERVICE_PLAN_CALL, { input: { name: unique('p'), provisionType: 'KVM', cores: 2, memoryMb: 2048, diskGb: 10 } }) },
  { field: 'updateServicePlan', needs: 'admin', success: 'ServicePlan', send: (client, f) => client.request(UPDATE_SERVICE_PLAN_CALL, { input: { planId: f.planId, cores: 4 } }) },
  { field: 'createCluster', needs: 'admin', success: 'Cluster', send: (client) => client.request(CREATE_CLUSTER_CALL, { input: { name: unique('c') } }) },
  { field: 'enrollHost', needs: 'admin', success: 'EnrollHostSuccess', send: (client, f) => client.request(ENROLL_HOST_CALL, { input: { name: unique('h'), clusterId: f.clusterId } }) },
  { field: 'rotateHostToken', needs: 'admin', success: 'EnrollHostSuccess', send: (client, f) => client.request(ROTATE_HOST_TOKEN_CALL, { input: { hostId: f.hostId } }) },
  { field: 'createUser', needs: 'admin', success: 'User', send: (client) => client.request(CREATE_USER_CALL, { input: { username: unique('u'), password: 'a long enough password', role: 'VIEWER' } }) },
  { field: 'updateUser', needs: 'admin', success: 'User', send: (client, f) => client.request(UPDATE_USER_CALL, { input: { userId: f.userId, role: 'OPERATOR' } }) },
  { field: 'createApiToken', needs: 'session', success: 'CreateApiTokenSuccess', send: (client) => client.request(CREATE_API_TOKEN_CALL, { input: { name: unique('t'), role: 'VIEWER' } }) },
  { field: 'signIn', needs: 'public', success: 'SignInSuccess', send: (client) => client.request(SIGN_IN_CALL, { input: { username: ADMIN.username, password: ADMIN.password } }) },
  { field: 'signOut', needs: 'session', success: 'SignOutSuccess', send: (client) => client.request(SIGN_OUT_CALL) },
  { field: 'heartbeat', needs: 'agent', success: 'Host', asFixtureAgent: true, send: (client) => client.request(HEARTBEAT_CALL) },
  { field: 'reportInventory', needs: 'agent', success: 'Host', asFixtureAgent: true, send: (client) => client.request(REPORT_INVENTORY_CALL, { input: { facts: { cpuCores: 8, memoryMb: 1024, iommuEnabled: true }, devices: [] } }) },
  { field: 'startOperation', needs: 'agent', success: 'Operation', asFixtureAgent: true, send: (client, f) => client.request(START_OPERATION_CALL, { input: { operationId: f.pendingOperation } }) },
  { field: 'completeOperation', needs: 'agent', success: 'Operation', asFixtureAgent: true, send: (client, f) => client.request(COMPLETE_OPERATION_CALL, { input: { operationId: f.pendingOperation, succeeded: true } }) },
];


beforeAll(startFleet);
afterAll(stopFleet);

describe('who may call each mutation', () => {
  for (const call of MUTATIONS) {
    it(`${call.field} (${call.needs})`, async () => {
      const shared = await fixture();
      for (const who of EVERYONE) {
        const mayCall = allowed(who, call.needs);
        const f = mayCall && who !== 'anonymous' ? await fixture() : shared;
        const client = call.asFixtureAgent && who === 'agentA' ? f.agent.client : clients[who];
        // Other fixtures' agents may finish their operations meanwhile: the target host in full, the rest counted.
        const target = decodeGlobalID(f.hostId).id;
        const before = mayCall ? null : await stateSnapshot(app.database.db, target);
        const { data, errors } = await call.send(client, f);
        expect(errors, `${who} calling ${call.field}`).toBeUndefined();
        const result = data!.result;
        if (mayCall) {
          expect(result.__typename, `${who} calling ${call.field}: ${result.message}`).toBe(call.success);
        } else {
          expect(result.__typename, `${who} calling ${call.field}`).toBe('NotAuthorizedError');
          expect(result.message!.length).toBeGreaterThan(10);
          expect(await stateSnapshot(app.database.db, target), `${who} calling ${call.field} changed something`).toEqual(before);
        }
      }
    });
  }

  it('deleteServicePlan (admin)', async () => {
    for (const who of EVERYONE) {
      const { id: planId } = await seed.plan({ name: unique('doomed'), gpuCount: 0 });
      const { data } = await clients[who].request(DELETE_PLAN, { id: planId });
      expect(data!.deleteServicePlan.__typename, who).toBe(allowed(who, 'admin') ? 'DeleteServicePlanSuccess' : 'NotAuthorizedError');
    }
  });

  it('an API token cannot mint tokens: createApiToken needs a console session', async () => {
    const { data } = await admin.request(CHILD_TOKEN);
    expect(data!.createApiToken).toEqual({ __typename: 'NotAuthorizedError', message: 'Mutation.createApiToken needs a console session, not an API token' });
  });

  it("a new password revokes the user's API tokens and sessions, unless the admin keeps the tokens", async () => {
    const user = { username: unique('reset'), password: 'the old password 123' };
    await admin.data(CREATE_USER, { input: { ...user, role: 'OPERATOR' } });
    const reset = async (keepTokens: boolean | undefined) => {
      const session = await sessionClient(url, user);
      const token = await signedInClient(url, user, 'VIEWER');
      const { users } = await admin.data(USERS);
      const userId = users.find((u) => u.username === user.username)!.id;
      user.password = `${user.password}!`;
      const { updateUser } = await admin.data(UPDATE_USER, {
        input: { userId, password: user.password, ...(keepTokens === undefined ? {} : { keepTokens }) },
      });
      expect(updateUser.__typename).toBe('User');
      const answers = await Promise.all([session, token].map(async (client) => (await client.request(HOST_IDS)).errors?.[0]?.extensions?.code ?? 'OK'));
      return { session: answers[0], token: answers[1] };
    };
    expect(await reset(undefined)).toEqual({ session: 'NotAuthorizedError', token: 'NotAuthorizedError' });
    expect(await reset(true)).toEqual({ session: 'NotAuthorizedError', token: 'OK' });
  });

  it('revokeApiToken: the owner or an admin, nobody else', async () => {
    const viewerSession = await sessionClient(url, { username: 'viewer', password: 'viewer password 123' });
    const { createApiToken } = await viewerSession.data(MINE_TOKEN);
    const tokenId = member(createApiToken, 'CreateApiTokenSuccess').apiToken.id;
    const revoke = (who: Who) => clients[who].request(REVOKE_TOKEN, { id: tokenId });
    expect((await revoke('operator')).data!.revokeApiToken.__typename).toBe('NotFoundError');
    expect((await revoke('anonymous')).data!.revokeApiToken.__typename).toBe('NotAuthorizedError');
    expect((await revoke('agentA')).data!.revokeApiToken.__typename).toBe('NotAuthorizedError');
    expect((await revoke('viewer')).data!.revokeApiToken.__typename).toBe('ApiToken');
    expect((await revoke('admin')).data!.revokeApiToken.__typename).toBe('ApiToken');
  });

  it("an agent of host A cannot act on host B's operations", async () => {
    hostB.agent.respond = () => 'hold';
    const [usb] = await seed.devices(hostB.id);
    const detachDevice = member((await admin.data(DETACH_OPERATION, { id: usb!.id })).detachDevice, 'DeviceOperationSuccess');
    const before = await stateSnapshot(app.database.db, decodeGlobalID(hostB.id).id);
    const acknowledgements = [
      await clients.agentA.request(START_FOREIGN, { id: detachDevice.operation.id }),
      await clients.agentA.request(COMPLETE_FOREIGN, { id: detachDevice.operation.id }),
    ];
    for (const { data } of acknowledgements) {
      expect(data!.acknowledgement.__typename).toBe('NotFoundError');
    }
    expect(await stateSnapshot(app.database.db, decodeGlobalID(hostB.id).id)).toEqual(before);
    // Refused acknowledgements are what the audit trail keeps of them.
    const { auditLog } = await admin.data(AUDIT_ACTORS, { t: detachDevice.operation.id });
    expect(auditLog.nodes).toEqual(
      expect.arrayContaining(['startOperation', 'completeOperation'].map((action) => ({ actor: 'agent:host-a', action, outcome: 'NotFoundError' }))),
    );
  });
});

describe('who may read', () => {
  const QUERIES: [string, Needs][] = [
    ['{ hosts { nodes { id } } }', 'viewer'],
    ['{ devices { nodes { id } } }', 'viewer'],
    ['{ pool { byKind { kind } } }', 'viewer'],
    ['{ operations { nodes { id } } }', 'viewer'],
    ['{ auditLog { nodes { id } } }', 'viewer'],
    ['{ apiTokens { id } }', 'viewer'],
    ['{ users { id } }', 'admin'],
  ];
  for (const [query, needs] of QUERIES) {
    it(`${query} (${needs})`, async () => {
      for (const who of EVERYONE) {
        const { data, errors } = await clients[who].request(query);
        if (allowed(who, needs)) expect(errors, who).toBeUndefined();
        else {
          expect(data, who).toBeNull();
          expect(errors?.[0]?.extensions?.code, who).toBe('NotAuthorizedError');
        }
      }
    });
  }

  it('me is public: null when anonymous', async () => {
    expect((await clients.anonymous.data(ME)).me).toBeNull();
    expect((await clients.operator.data(ME_ROLE)).me).toEqual({ username: 'operator', role: 'OPERATOR' });
  });
});
