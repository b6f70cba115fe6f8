import { Writable } from 'node:stream';
import { expect } from 'vitest';
import { pino } from 'pino';
import { buildApp, type App } from '../../../server/app.ts';
import { loadConfig } from '../../../server/config.ts';
import { graphql } from '../../../protocol/graphql.ts';
import { eventually, member, TestClient } from '../../support/client.ts';
import { createTestDatabase, type TestDatabase } from '../../support/database.ts';
import { Seed, type SeededHost } from '../../support/seed.ts';
import { ADMIN, sessionClient, signedInClient } from '../../support/server.ts';

// What the files split from the security tests share: one server a file with every kind of caller, and fresh objects to act on.
export type Who = 'anonymous' | 'viewer' | 'operator' | 'admin' | 'agentA' | 'revoked' | 'expired';
export type Needs = 'public' | 'session' | 'viewer' | 'operator' | 'admin' | 'agent';
export const EVERYONE: Who[] = ['anonymous', 'viewer', 'operator', 'admin', 'agentA', 'revoked', 'expired'];

export function allowed(who: Who, needs: Needs) {
  const rank = { anonymous: 0, revoked: 0, expired: 0, agentA: 0, viewer: 1, operator: 2, admin: 3 }[who];
  switch (needs) {
    case 'public':
      return true;
    case 'agent':
      return who === 'agentA';
    case 'session':
      return false; // every client here uses a bearer token; sign-out is tested with a cookie in sign-in.test.ts
    default:
      return rank >= { viewer: 1, operator: 2, admin: 3 }[needs];
  }
}

const PROVISION = graphql(`mutation($input: ProvisionVmInput!) { provisionVm(input: $input) { __typename ... on VmOperationSuccess { vm { id } } } }`);
const VM_STATUS = graphql(`query($id: ID!) { vm(id: $id) { status } }`);
const ASSIGN = graphql(`mutation($d: ID!, $v: ID!) { assignDevice(input: { deviceId: $d, vmId: $v }) { __typename } }`);
export const DETACH_OPERATION = graphql(`mutation($id: ID!) { detachDevice(input: { deviceId: $id }) { __typename ... on DeviceOperationSuccess { operation { id } } } }`);
export const CREATE_USER = graphql(`mutation($input: CreateUserInput!) { createUser(input: $input) { __typename } }`);
const CREATE_USER_ID = graphql(`mutation($input: CreateUserInput!) { createUser(input: $input) { __typename ... on User { id } } }`);
const API_TOKENS = graphql(`{ apiTokens { id name } }`);
export const REVOKE_TOKEN = graphql(`mutation($id: ID!) { revokeApiToken(input: { tokenId: $id }) { __typename } }`);
const SHORT_LIVED_TOKEN = graphql(`mutation($at: DateTime!) { createApiToken(input: { name: "short-lived", role: ADMIN, expiresAt: $at }) { __typename ... on CreateApiTokenSuccess { token } } }`);
const VICTIM_TOKEN = graphql(`mutation($name: String!) { createApiToken(input: { name: $name, role: VIEWER }) { __typename ... on CreateApiTokenSuccess { apiToken { id } } } }`);
export const ME = graphql(`{ me { username } }`);
export const WATCH_HOSTS = graphql(`subscription { hostChanged { host { id } } }`);

export let app: App;
export let url: string;
let database: TestDatabase;
export const logLines: string[] = [];
export let admin: TestClient;
/** The admin's console session: only a session mints API tokens. */
export let adminSession: TestClient;
export let seed: Seed;
export const clients = {} as Record<Who, TestClient>;
export let hostB: SeededHost;
let counter = 0;
export const unique = (prefix: string) => `${prefix}-${++counter}`;

/** Fresh objects for one call, made by the admin, so an allowed call has something to act on. */
export async function fixture() {
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
export type Fixture = Awaited<ReturnType<typeof fixture>>;

/** Starts the file's own server and signs in every kind of caller: each test file runs it in beforeAll. */
export async function startFleet() {
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
}

export async function stopFleet() {
  for (const client of Object.values(clients)) await client.close();
  await app.stop();
  await database.drop();
}
