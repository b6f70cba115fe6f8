import { Writable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { pino } from 'pino';
import { buildApp, type App } from '../../server/app.ts';
import { loadConfig } from '../../server/config.ts';
import { print } from 'graphql';
import { graphql, type ResultOf } from '../../protocol/graphql.ts';
import { eventually, member, TestClient, type Document, type GraphQLResponse } from '../support/client.ts';
import { createTestDatabase, type TestDatabase } from '../support/database.ts';
import { Seed, type SeededHost } from '../support/seed.ts';
import { ADMIN, sessionClient, signedInClient } from '../support/server.ts';
import { queryRows, stateSnapshot } from '../support/snapshot.ts';
import { sql } from 'drizzle-orm';
import { decodeGlobalID } from '@pothos/plugin-relay';
import { deleteExpiredSessions } from '../../server/domain/auth.ts';

type Who = 'anonymous' | 'viewer' | 'operator' | 'admin' | 'agentA' | 'revoked' | 'expired';
type Needs = 'public' | 'session' | 'viewer' | 'operator' | 'admin' | 'agent';
const EVERYONE: Who[] = ['anonymous', 'viewer', 'operator', 'admin', 'agentA', 'revoked', 'expired'];

function allowed(who: Who, needs: Needs) {
  const rank = { anonymous: 0, revoked: 0, expired: 0, agentA: 0, viewer: 1, operator: 2, admin: 3 }[who];
  switch (needs) {
    case 'public':
      return true;
    case 'agent':
      return who === 'agentA';
    case 'session':
      return false; // every client here uses a bearer token; sign-out is tested with a cookie below
    default:
      return rank >= { viewer: 1, operator: 2, admin: 3 }[needs];
  }
}

const PROVISION = graphql(`mutation($input: ProvisionVmInput!) { provisionVm(input: $input) { __typename ... on VmOperationSuccess { vm { id } } } }`);
const VM_STATUS = graphql(`query($id: ID!) { vm(id: $id) { status } }`);
const ASSIGN = graphql(`mutation($d: ID!, $v: ID!) { assignDevice(input: { deviceId: $d, vmId: $v }) { __typename } }`);
const DETACH = graphql(`mutation($id: ID!) { detachDevice(input: { deviceId: $id }) { __typename } }`);
const DETACH_OPERATION = graphql(`mutation($id: ID!) { detachDevice(input: { deviceId: $id }) { __typename ... on DeviceOperationSuccess { operation { id } } } }`);
const STOP_VM = graphql(`mutation($id: ID!) { stopVm(input: { vmId: $id }) { __typename } }`);
const CREATE_USER = graphql(`mutation($input: CreateUserInput!) { createUser(input: $input) { __typename } }`);
const CREATE_USER_ID = graphql(`mutation($input: CreateUserInput!) { createUser(input: $input) { __typename ... on User { id } } }`);
const UPDATE_USER = graphql(`mutation($input: UpdateUserInput!) { updateUser(input: $input) { __typename } }`);
const USERS = graphql(`{ users { id username } }`);
const API_TOKENS = graphql(`{ apiTokens { id name } }`);
const REVOKE_TOKEN = graphql(`mutation($id: ID!) { revokeApiToken(input: { tokenId: $id }) { __typename } }`);
const SHORT_LIVED_TOKEN = graphql(`mutation($at: DateTime!) { createApiToken(input: { name: "short-lived", role: ADMIN, expiresAt: $at }) { __typename ... on CreateApiTokenSuccess { token } } }`);
const MINE_TOKEN = graphql(`mutation { createApiToken(input: { name: "mine", role: VIEWER }) { __typename ... on CreateApiTokenSuccess { apiToken { id } } } }`);
const WATCHER_TOKEN = graphql(`mutation { createApiToken(input: { name: "watcher", role: VIEWER }) { __typename ... on CreateApiTokenSuccess { token apiToken { id } } } }`);
const VICTIM_TOKEN = graphql(`mutation($name: String!) { createApiToken(input: { name: $name, role: VIEWER }) { __typename ... on CreateApiTokenSuccess { apiToken { id } } } }`);
const CHILD_TOKEN = graphql(`mutation { createApiToken(input: { name: "child", role: VIEWER }) { __typename ... on Error { message } } }`);
const START_FOREIGN = graphql(`mutation($id: ID!) { acknowledgement: startOperation(input: { operationId: $id }) { __typename } }`);
const COMPLETE_FOREIGN = graphql(`mutation($id: ID!) { acknowledgement: completeOperation(input: { operationId: $id, succeeded: true }) { __typename } }`);
const SECRET_CHECK_TOKEN = graphql(`mutation { createApiToken(input: { name: "secret-check", role: VIEWER }) { __typename ... on CreateApiTokenSuccess { token } } }`);
const ROTATE_HOST_TOKEN = graphql(`mutation($id: ID!) { rotateHostToken(input: { hostId: $id }) { __typename } }`);
const DELETE_PLAN = graphql(`mutation($id: ID!) { deleteServicePlan(input: { planId: $id }) { __typename } }`);
const SIGN_IN = graphql(`mutation($input: SignInInput!) { signIn(input: $input) { __typename ... on Error { message } ... on SignInSuccess { user { username } } } }`);
const SIGN_OUT = graphql(`mutation { signOut { __typename } }`);
const ME = graphql(`{ me { username } }`);
const ME_ROLE = graphql(`{ me { username role } }`);
const HOST_IDS = graphql(`{ hosts { nodes { id } } }`);
const CLUSTER_NAMES = graphql(`{ clusters { name } }`);
const WATCH_HOSTS = graphql(`subscription { hostChanged { host { id } } }`);
const WATCH_DEVICES = graphql(`subscription { deviceChanged { device { id } } }`);
const OPERATION_FINISHED = graphql(`query($id: ID!) { node(id: $id) { __typename ... on Operation { status finishedAt } } }`);
const DEVICE_OPERATION_ACTORS = graphql(`query($id: ID!) { operations(filter: { deviceId: $id }) { nodes { actor } } }`);
const AUDIT_ACTORS = graphql(`query($t: ID!) { auditLog(target: $t) { nodes { actor action outcome } } }`);
const AUDIT_TARGETS = graphql(`query($t: ID!) { auditLog(target: $t, first: 10) { nodes { actor action outcome targets } } }`);
const AUDIT_REFUSALS = graphql(`query($t: ID!) { auditLog(target: $t, first: 10) { nodes { actor action outcome } } }`);
const AUDIT_DETAILS = graphql(`{ auditLog(first: 500) { nodes { action details } } }`);
const AUDIT_ALL_DETAILS = graphql(`{ auditLog(first: 500) { nodes { details } } }`);
const AUDIT_ACTIONS = graphql(`query($t: ID!) { auditLog(target: $t) { nodes { action } } }`);
const AUDIT_OUTCOMES = graphql(`query($t: ID!) { auditLog(target: $t) { nodes { action outcome } } }`);

let app: App;
let url: string;
let database: TestDatabase;
const logLines: string[] = [];
let admin: TestClient;
/** The admin's console session: only a session mints API tokens. */
let adminSession: TestClient;
let seed: Seed;
const clients = {} as Record<Who, TestClient>;
let hostB: SeededHost;
let counter = 0;
const unique = (prefix: string) => `${prefix}-${++counter}`;

/** Fresh objects for one call, made by the admin, so an allowed call has something to act on. */
async function fixture() {
  const cluster = await seed.cluster(unique('sec'));
  const host = await cluster.host({ name: unique('sec-host'), gpus: 2, usb: 2 });
  const { id: planId } = await seed.plan({ name: unique('sec-plan'), gpuCount: 0 });
  const { provisionVm } = await admin.data(
    PROVISION,
    { input: { name: unique('sec-vm'), planId, hostId: host.id } },
  );
  const vmId = member(provisionVm, 'VmOperationSuccess').vm.id;
  await eventually(async () => (await admin.data(VM_STATUS, { id: vmId })).vm!.status === 'RUNNING');
  const devices = await seed.devices(host.id);
  const usb = devices.filter((d) => d.kind === 'USB');
  const gpus = devices.filter((d) => d.kind === 'GPU'); // reported on vfio-pci: DETACHED
  await admin.data(ASSIGN, { d: gpus[1]!.id, v: vmId });
  await eventually(async () => (await seed.device(gpus[1]!.id)).status === 'ASSIGNED');
  host.agent.respond = () => 'hold';
  const { detachDevice } = await admin.data(DETACH_OPERATION, { id: usb[1]!.id });
  const { createApiToken } = await adminSession.data(VICTIM_TOKEN, { name: unique('victim') });
  const { createUser } = await admin.data(CREATE_USER_ID, { input: { username: unique('user'), password: 'a long enough password', role: 'VIEWER' } });
  return {
    clusterId: cluster.id,
    hostId: host.id,
    hostToken: host.token,
    planId,
    vmId,
    attached: usb[0]!.id,
    detached: gpus[0]!.id,
    assigned: gpus[1]!.id,
    pendingOperation: member(detachDevice, 'DeviceOperationSuccess').operation.id,
    apiTokenId: member(createApiToken, 'CreateApiTokenSuccess').apiToken.id,
    userId: member(createUser, 'User').id,
    agent: host.agent,
  };
}
type Fixture = Awaited<ReturnType<typeof fixture>>;

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

beforeAll(async () => {
  database = await createTestDatabase();
  const sink = new Writable({
    write(chunk, _encoding, done) {
      logLines.push(String(chunk));
      done();
    },
  });
  app = await buildApp(
    { ...loadConfig({}), databaseUrl: database.databaseUrl, dataDir: database.dataDir, adminUsername: ADMIN.username, adminPassword: ADMIN.password, logLevel: 'debug', heartbeatTimeoutMs: 10 * 60 * 1000, agentDisconnectGraceMs: 10 * 60 * 1000,
      // Fixtures hold operations PENDING on purpose; none may time out while a call is compared before and after.
      operationTimeoutMs: 60 * 60 * 1000 },
    { logger: pino({ level: 'debug' }, sink) },
  );
  url = `http://127.0.0.1:${await app.start(0)}`;
  admin = await signedInClient(url, ADMIN, 'ADMIN');
  adminSession = await sessionClient(url, ADMIN);
  seed = new Seed(admin, url);

  for (const role of ['VIEWER', 'OPERATOR'] as const) {
    const user = { username: role.toLowerCase(), password: `${role.toLowerCase()} password 123` };
    await admin.data(CREATE_USER, { input: { ...user, role } });
    clients[role.toLowerCase() as Who] = await signedInClient(url, user, role);
  }
  clients.admin = admin;
  clients.anonymous = new TestClient(url);
  const base = await seed.cluster('sec-base');
  const hostA = await base.host({ name: 'host-a', usb: 1 });
  hostB = await base.host({ name: 'host-b', usb: 1 });
  clients.agentA = hostA.agent.client;

  const revokedToken = await signedInClient(url, ADMIN, 'ADMIN');
  const { apiTokens } = await admin.data(API_TOKENS);
  const { revokeApiToken } = await revokedToken.data(
    REVOKE_TOKEN,
    { id: apiTokens[0]!.id }, // newest first: the one just created
  );
  expect(revokeApiToken.__typename).toBe('ApiToken');
  clients.revoked = revokedToken;

  const { createApiToken } = await adminSession.data(
    SHORT_LIVED_TOKEN,
    { at: new Date(Date.now() + 1500).toISOString() },
  );
  clients.expired = new TestClient(url, member(createApiToken, 'CreateApiTokenSuccess').token);
  await new Promise((resolve) => setTimeout(resolve, 1600));
});

afterAll(async () => {
  for (const client of Object.values(clients)) await client.close();
  await app.stop();
  await database.drop();
});

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

describe('subscriptions', () => {
  const SUBSCRIPTIONS: Document<unknown, {}>[] = [
    graphql(`subscription { deviceChanged { device { id } } }`),
    graphql(`subscription { hostChanged { host { id } } }`),
    graphql(`subscription { vmChanged { vm { id } } }`),
    graphql(`subscription { operationChanged { operation { id } } }`),
    graphql(`subscription { auditLogged { entry { id } } }`),
    graphql(`subscription { agentOperations { id } }`),
  ];

  it('a socket without credentials is closed 4401; a revoked or expired token 4403', async () => {
    for (const [who, code] of [['anonymous', 4401], ['revoked', 4403], ['expired', 4403]] as const) {
      const client = new TestClient(url, clients[who].token);
      const stream = client.subscribe(WATCH_HOSTS);
      await expect(stream.next(() => false, 5000)).rejects.toThrow(/ended/);
      expect(client.closes[0]?.code, who).toBe(code);
      await client.close();
    }
  });

  it('people subscribe to changes; agents only to their own operations', async () => {
    for (const who of ['viewer', 'operator', 'admin', 'agentA'] as const) {
      for (const document of SUBSCRIPTIONS) {
        const field = print(document);
        const mayCall = field.includes('agentOperations') ? who === 'agentA' : who !== 'agentA';
        const client = new TestClient(url, clients[who].token);
        const stream = client.subscribe(document);
        if (mayCall) {
          await new Promise((resolve) => setTimeout(resolve, 150));
          expect(stream.events.filter((e) => e.errors), `${who} ${field}`).toEqual([]);
        } else {
          const refused = await stream.next((e) => Boolean(e.errors));
          expect(refused.errors![0]!.message, `${who} ${field}`).toMatch(/host agents|Host agents/);
        }
        await client.close();
      }
    }
  });

  it('revoking a token ends its live subscriptions at once', async () => {
    const createApiToken = member((await adminSession.data(WATCHER_TOKEN)).createApiToken, 'CreateApiTokenSuccess');
    const watcher = new TestClient(url, createApiToken.token);
    const stream = watcher.subscribe(WATCH_DEVICES);
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect(stream.ended).toBe(false);
    await admin.data(REVOKE_TOKEN, { id: createApiToken.apiToken.id });
    await eventually(async () => stream.ended, 5000);
    expect(watcher.closes[0]).toMatchObject({ code: 4403, reason: 'Credential revoked' });
    await watcher.close();
  });

  it('rotating a host token disconnects the agent that used the old one', async () => {
    const cluster = await seed.cluster(unique('rot'));
    const host = await cluster.host({ name: unique('rot-host'), usb: 1 });
    await new Promise((resolve) => setTimeout(resolve, 300));
    await admin.data(ROTATE_HOST_TOKEN, { id: host.id });
    await eventually(async () => host.agent.client.closes.length > 0, 5000);
    expect(host.agent.client.closes[0]!.code).toBe(4403);
  });
});

describe('sign-in', () => {
  async function signIn(username: string, password: string) {
    const response = await fetch(`${url}/graphql`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-forwarded-for': 'ignored' },
      body: JSON.stringify({ query: print(SIGN_IN), variables: { input: { username, password } } }),
    });
    return { cookie: response.headers.get('set-cookie'), result: ((await response.json()) as GraphQLResponse<ResultOf<typeof SIGN_IN>>).data!.signIn };
  }

  it('sets an HttpOnly, SameSite session cookie that works over HTTP and graphql-ws, until sign-out', async () => {
    const { cookie, result } = await signIn('viewer', 'viewer password 123');
    expect(result).toEqual({ __typename: 'SignInSuccess', user: { username: 'viewer' } });
    expect(cookie).toMatch(/^passthru_session=pth_session_[\w-]+; Path=\/; Expires=.*; HttpOnly; SameSite=Strict$/);
    const session = new TestClient(url, null, cookie!.split(';')[0]!);
    expect((await session.data(ME)).me!.username).toBe('viewer');
    const stream = session.subscribe(WATCH_HOSTS);
    await new Promise((resolve) => setTimeout(resolve, 200));
    expect(stream.ended).toBe(false);

    expect((await session.data(SIGN_OUT)).signOut.__typename).toBe('SignOutSuccess');
    await eventually(async () => stream.ended, 5000);
    expect((await session.data(ME)).me).toBeNull();
    await session.close();
  });

  it('an expired session no longer signs anyone in, and the sweep drops it', async () => {
    const { cookie } = await signIn('viewer', 'viewer password 123');
    const session = new TestClient(url, null, cookie!.split(';')[0]!);
    expect((await session.data(ME)).me).toEqual({ username: 'viewer' });
    // The viewer's sessions only: the admin's mints the fixtures' tokens.
    await app.database.db.execute(sql`update sessions set expires_at = now() - interval '1 second' where user_id = (select id from users where username = 'viewer')`);
    expect((await session.request(ME)).data?.me).toBeNull();
    expect(await deleteExpiredSessions(app.database.db)).toBeGreaterThan(0);
    expect(await queryRows(app.database.db, sql`select id from sessions where expires_at < now()`)).toEqual([]);
  });

  it('says the same for an unknown user and a wrong password (sign-in-limits.test.ts slows guessing down)', async () => {
    const unknown = await signIn('nobody', 'whatever password');
    const wrong = await signIn('operator', 'not the password');
    expect(unknown.result).toEqual({ __typename: 'NotAuthorizedError', message: 'Wrong username or password' });
    expect(wrong.result).toEqual(unknown.result);
    expect(unknown.cookie).toBeNull();
  });
});

describe('hostile documents are refused before anything runs', () => {
  const refused = async (query: string) => {
    const before = await stateSnapshot(app.database.db);
    const { errors, data } = await admin.request(query);
    expect(data).toBeUndefined();
    expect(await stateSnapshot(app.database.db)).toEqual(before);
    return errors![0]!.message;
  };

  it('deep nesting', async () => {
    let query = 'id';
    for (let i = 0; i < 20; i++) query = `host { devices { nodes { ${query} } } }`;
    // Depth and cost both bound it; whichever trips first refuses it.
    expect(await refused(`{ devices { nodes { ${query} } } }`)).toMatch(/depth|cost/i);
  });

  it('hundreds of aliases', async () => {
    const aliases = Array.from({ length: 100 }, (_, i) => `a${i}: me { username }`).join(' ');
    expect(await refused(`{ ${aliases} }`)).toMatch(/aliases/i);
  });

  it('huge token counts', async () => {
    expect(await refused(`{ me { ${'username '.repeat(5000)} } }`)).toMatch(/token/i);
  });

  it('oversized bodies', async () => {
    const response = await fetch(`${url}/graphql`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${admin.token}` },
      body: JSON.stringify({ query: `{ me { username } }`, variables: { pad: 'x'.repeat(2 * 1024 * 1024) } }),
    });
    expect(response.status).toBe(413);
  });

  it('cross-site simple requests (CSRF)', async () => {
    const response = await fetch(`${url}/graphql`, {
      method: 'POST',
      headers: { 'content-type': 'text/plain', authorization: `Bearer ${admin.token}` },
      body: JSON.stringify({ query: `mutation { createCluster(input: { name: "csrf" }) { __typename } }` }),
    });
    expect(response.status).toBeGreaterThanOrEqual(400);
    expect((await admin.data(CLUSTER_NAMES)).clusters.map((c) => c.name)).not.toContain('csrf');
  });
});

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
