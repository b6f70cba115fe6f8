import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { WebSocket } from 'ws';
import { AgentClient } from '../../agent/client.ts';
import { SimBackend } from '../../agent/backends/sim/index.ts';
import { AGENT_CONSOLE_PATH, ConsoleClose, type ConsoleKind } from '../../protocol/console.ts';
import { graphql } from '../../protocol/graphql.ts';
import { eventually, TestClient } from '../support/client.ts';
import { ConsoleSocket } from '../support/console.ts';
import { rfbClient } from '../support/rfb.ts';
import { deviceAt, hostDevices, Seed } from '../support/seed.ts';
import { ADMIN, sessionClient, signedInClient, startTestServer, type TestServer } from '../support/server.ts';
import { assignDevice, detachDevice, operationEnded, provisionVm, releaseDevice, testLogger } from '../agent/support.ts';

const VIEWER = { username: 'console-viewer', password: 'a long viewer password' };
const AUDIT_LOG = graphql(`query { auditLog(first: 50) { nodes { actor action outcome targets details } } }`);
const CREATE_USER = graphql(`mutation($input: CreateUserInput!) { createUser(input: $input) { __typename } }`);
const API_TOKENS = graphql(`query { apiTokens { id name revokedAt } }`);
const REVOKE_TOKEN = graphql(`mutation($id: ID!) { revokeApiToken(input: { tokenId: $id }) { __typename } }`);
const SIGN_OUT = graphql(`mutation { signOut { __typename } }`);

/**
 * VM consoles over /console/<VM ID>: a real server, a real agent (AgentClient) on a simulated
 * host, and sockets opened as a script would, with a bearer token or a session cookie.
 */
describe('VM consoles', () => {
  let server: TestServer;
  let agent: AgentClient;
  let backend: SimBackend;
  let hostId: string;
  let vmId: string;
  let operator: TestClient;
  const sockets: ConsoleSocket[] = [];

  const open = (id: string, credential: { token?: string | null; cookie?: string | null }, kind?: ConsoleKind | 'unknown') => {
    const socket = new ConsoleSocket(server.url, id, credential, kind);
    sockets.push(socket);
    return socket;
  };

  /** The audit entries of console sessions, oldest first. */
  async function consoleAudit() {
    const { auditLog } = await server.client.data(AUDIT_LOG);
    return auditLog.nodes
      .filter((entry) => entry.action.endsWith('Console'))
      .reverse();
  }

  beforeAll(async () => {
    server = await startTestServer({ config: { consoleAgentAnswerMs: 1_000 } });
    const seed = new Seed(server.client);
    const enrolled = await seed.cluster().enroll('console-host');
    hostId = enrolled.id;
    backend = new SimBackend(
      { name: 'console-host', latencyMs: 0, gpus: [{ model: 'rtx-3090', count: 1 }], usb: [{ model: 'sandisk-ultra-fit' }, { model: 'yubikey' }] },
      {},
    );
    agent = new AgentClient({ serverUrl: server.url, token: enrolled.token, backend, logger: testLogger() }).start();
    const { id: planId } = await seed.plan({ name: 'console-plan', cores: 2, memoryMb: 2048, diskGb: 20, gpuCount: 0 });
    await eventually(async () => (await deviceAt(server.client, hostId, '1-1').catch(() => null)) !== null);
    const provisioned = await provisionVm(server.client, { name: 'vm-console', planId, hostId });
    vmId = provisioned.vmId;
    expect((await operationEnded(server.client, provisioned.operationId)).status).toBe('SUCCEEDED');
    operator = await signedInClient(server.url, ADMIN, 'OPERATOR');
    const { createUser } = await server.client.data(CREATE_USER, { input: { ...VIEWER, role: 'VIEWER' } });
    expect(createUser.__typename).toBe('User');
  });

  afterAll(async () => {
    for (const socket of sockets) socket.close();
    await agent?.stop({ graceMs: 0 });
    await operator?.close();
    await server?.stop();
  });

  it('the sim guest lists exactly the devices assigned to its VM at that moment (lsusb, lspci -nn)', async () => {
    const console = open(vmId, { token: operator.token });
    await console.waitFor('root@vm-console:~# ');
    expect(await console.run('lsusb')).toBe('');
    expect(await console.run('lspci -nn')).toBe('');

    const usb = await deviceAt(server.client, hostId, '1-1');
    await operationEnded(server.client, await detachDevice(server.client, usb.id));
    await operationEnded(server.client, await assignDevice(server.client, { deviceId: usb.id, vmId, withGroup: false }));
    const gpu = (await hostDevices(server.client, hostId)).find((d) => d.kind === 'GPU')!;
    await operationEnded(server.client, await detachDevice(server.client, gpu.id));
    await operationEnded(server.client, await assignDevice(server.client, { deviceId: gpu.id, vmId, withGroup: true }));

    // The same session sees the change: the shell reads the domain when the command runs.
    expect(await console.run('lsusb')).toBe('Bus 001 Device 002: ID 0781:5583 SanDisk Corp. Ultra Fit');
    const lspci = await console.run('lspci -nn');
    expect(lspci).toContain('01:00.0 VGA compatible controller [0300]: NVIDIA Corporation GA102 [GeForce RTX 3090] [10de:2204]');
    // Exactly what the server says the VM holds: one line per assigned PCI function.
    const held = (await hostDevices(server.client, hostId)).filter((d) => d.vm?.id === vmId && d.kind !== 'USB');
    expect(lspci.split('\r\n').filter(Boolean)).toHaveLength(held.length);

    await operationEnded(server.client, await releaseDevice(server.client, usb.id));
    expect(await console.run('lsusb')).toBe('');
    console.close();
  });

  it('a session is audited when it opens and when it closes', async () => {
    const console = open(vmId, { token: operator.token });
    await console.waitFor(':~# ');
    console.socket.send('exit\r');
    expect(await console.closed).toEqual({ code: ConsoleClose.ENDED, reason: 'The guest shell exited' });
    // Every session opened so far (this one and the first test's) has its open and its close.
    const entries = await eventually(async () => {
      const all = await consoleAudit();
      const opened = all.filter((e) => e.action === 'openConsole' && e.outcome === 'OK');
      const closed = all.filter((e) => e.action === 'closeConsole');
      return opened.length === 2 && closed.length === 2 ? { opened, closed } : null;
    });
    expect(entries.opened[1]).toMatchObject({ outcome: 'OK', targets: [vmId, hostId] });
    expect(entries.opened[1]!.actor).toMatch(/^token:admin\//);
    expect(entries.closed.map((e) => JSON.parse(e.details))).toContainEqual(expect.objectContaining({ vm: 'vm-console', host: 'console-host', reason: 'The guest shell exited' }));
  });

  it('a viewer is refused a console (4403), and the refusal is audited', async () => {
    const viewer = await sessionClient(server.url, VIEWER);
    const console = open(vmId, { cookie: viewer.cookie });
    expect(await console.closed).toEqual({ code: ConsoleClose.FORBIDDEN, reason: 'Opening a VM console needs the OPERATOR role; this credential has VIEWER' });
    expect(console.output).toBe('');
    await eventually(async () => (await consoleAudit()).some((e) => e.actor === `user:${VIEWER.username}` && e.outcome === 'NotAuthorizedError'));
    await viewer.close();
  });

  it("a graphics session (?kind=graphics) relays RFB unchanged both ways: the sim VM's version string, handshake and a framebuffer update", async () => {
    const graphics = open(vmId, { token: operator.token }, 'graphics');
    expect((await graphics.bytes.read(12)).toString('latin1')).toBe('RFB 003.008\n');
    graphics.socket.send(rfbClient.version);
    expect([...(await graphics.bytes.read(2))]).toEqual([1, 1]);
    graphics.socket.send(Buffer.concat([rfbClient.chooseNone, rfbClient.init]));
    expect((await graphics.bytes.read(4)).readUInt32BE(0)).toBe(0);
    const init = await graphics.bytes.read(24);
    expect([init.readUInt16BE(0), init.readUInt16BE(2)]).toEqual([640, 400]);
    expect((await graphics.bytes.read(init.readUInt32BE(20))).toString()).toBe('vm-console');
    // A whole raw frame (1 MB) crosses the relay in many messages and arrives intact.
    graphics.socket.send(Buffer.concat([rfbClient.setPixelFormat(), rfbClient.updateRequest(false, 640, 400)]));
    const header = await graphics.bytes.read(16);
    expect([header.readUInt16BE(8), header.readUInt16BE(10)]).toEqual([640, 400]);
    const pixels = await graphics.bytes.read(640 * 400 * 4);
    expect([...pixels.subarray(0, 3)]).toEqual([0x3d, 0x6d, 0xf2]);
    expect(graphics.output).toBe('');
    graphics.close();
    await eventually(async () => (await consoleAudit()).some((e) => e.action === 'closeConsole' && JSON.parse(e.details).kind === 'graphics'));
  });

  it('a viewer is refused a graphics session too (4403)', async () => {
    const viewer = await sessionClient(server.url, VIEWER);
    const graphics = open(vmId, { cookie: viewer.cookie }, 'graphics');
    expect(await graphics.closed).toEqual({ code: ConsoleClose.FORBIDDEN, reason: 'Opening a VM console needs the OPERATOR role; this credential has VIEWER' });
    expect(graphics.bytes.available).toBe(0);
    await viewer.close();
  });

  it('revoking the token ends its graphics session too (4403)', async () => {
    const scripted = await signedInClient(server.url, ADMIN, 'OPERATOR');
    const graphics = open(vmId, { token: scripted.token }, 'graphics');
    expect((await graphics.bytes.read(12)).toString('latin1')).toBe('RFB 003.008\n');
    const { apiTokens } = await server.client.data(API_TOKENS);
    const newest = apiTokens.filter((t) => !t.revokedAt)[0]!;
    await server.client.data(REVOKE_TOKEN, { id: newest.id });
    expect(await graphics.closed).toEqual({ code: ConsoleClose.FORBIDDEN, reason: 'Credential revoked' });
    await scripted.close();
  });

  it('a graphics session on an agent from before graphics consoles (it answers with serial output) is closed with a reason (1011)', async () => {
    const seed = new Seed(server.client, server.url);
    const old = await seed.cluster('old').host({ name: 'old-host', devices: [] });
    const { id: planId } = await seed.plan({ name: 'old-plan', cores: 1, memoryMb: 1024, diskGb: 20, gpuCount: 0 });
    const provisioned = await provisionVm(server.client, { name: 'vm-old', planId, hostId: old.id });
    await operationEnded(server.client, provisioned.operationId);
    // It ignores the kind it does not know and opens the serial console.
    const agentSocket = new WebSocket(`${server.url.replace(/^http/, 'ws')}${AGENT_CONSOLE_PATH}`, { headers: { authorization: `Bearer ${old.token}` } });
    agentSocket.on('message', (data) => {
      const message = JSON.parse(data.toString());
      if (message.type === 'open') agentSocket.send(JSON.stringify({ type: 'output', session: message.session, data: 'login: ' }));
    });
    await new Promise((resolve) => agentSocket.once('open', resolve));
    const graphics = open(provisioned.vmId, { token: operator.token }, 'graphics');
    expect(await graphics.closed).toEqual({ code: ConsoleClose.FAILED, reason: 'The agent of host old-host cannot open this kind of console; it may need an update' });
    expect(graphics.bytes.available).toBe(0);
    agentSocket.close();
    await old.agent.disconnect();
  });

  it('an unknown console kind is refused (4400)', async () => {
    const console = open(vmId, { token: operator.token }, 'unknown');
    expect(await console.closed).toEqual({ code: ConsoleClose.BAD_REQUEST, reason: 'Unknown console kind; use ?kind=serial or ?kind=graphics' });
  });

  it('a console without credentials is refused (4401)', async () => {
    const console = open(vmId, {});
    expect((await console.closed).code).toBe(ConsoleClose.UNAUTHENTICATED);
  });

  it('an unknown VM is refused with 4404 naming the ID', async () => {
    const console = open('no-such-vm', { token: operator.token });
    expect(await console.closed).toEqual({ code: ConsoleClose.NOT_FOUND, reason: 'No VM with ID "no-such-vm"' });
  });

  it("revoking the token ends its console session (4403) and the close is audited", async () => {
    const scripted = await signedInClient(server.url, ADMIN, 'OPERATOR');
    const console = open(vmId, { token: scripted.token });
    await console.waitFor(':~# ');
    const { apiTokens } = await server.client.data(API_TOKENS);
    const newest = apiTokens.filter((t) => !t.revokedAt)[0]!;
    const { revokeApiToken } = await server.client.data(REVOKE_TOKEN, { id: newest.id });
    expect(revokeApiToken.__typename).toBe('ApiToken');
    expect(await console.closed).toEqual({ code: ConsoleClose.FORBIDDEN, reason: 'Credential revoked' });
    await eventually(async () => (await consoleAudit()).some((e) => e.action === 'closeConsole' && e.details.includes('Credential revoked')));
    await scripted.close();
  });

  it('signing out ends the console sessions of that browser session (4403)', async () => {
    const admin = await sessionClient(server.url, ADMIN);
    const console = open(vmId, { cookie: admin.cookie });
    await console.waitFor(':~# ');
    await admin.data(SIGN_OUT);
    expect(await console.closed).toEqual({ code: ConsoleClose.FORBIDDEN, reason: 'Credential revoked' });
    await admin.close();
  });

  it('a console socket from another origin carrying the session cookie is refused', async () => {
    const admin = await sessionClient(server.url, ADMIN);
    const socket = new WebSocket(`${server.url.replace(/^http/, 'ws')}/console/${encodeURIComponent(vmId)}`, {
      headers: { cookie: admin.cookie!, origin: 'https://evil.example' },
    });
    socket.on('error', () => {});
    const refused = await new Promise<number>((resolve) => socket.on('unexpected-response', (_request, response) => resolve(response.statusCode ?? 0)));
    expect(refused).toBe(401);
    socket.terminate();
    await admin.close();
  });

  it('a console on a host whose agent does not answer is closed with a reason (1011), not left waiting', async () => {
    const seed = new Seed(server.client, server.url);
    const silent = await seed.cluster('silent').host({ name: 'silent-host', devices: [] });
    const { id: planId } = await seed.plan({ name: 'silent-plan', cores: 1, memoryMb: 1024, diskGb: 20, gpuCount: 0 });
    const provisioned = await provisionVm(server.client, { name: 'vm-silent', planId, hostId: silent.id });
    await operationEnded(server.client, provisioned.operationId);
    // An agent from before consoles: its console socket is open, and it never answers.
    const agentSocket = new WebSocket(`${server.url.replace(/^http/, 'ws')}${AGENT_CONSOLE_PATH}`, { headers: { authorization: `Bearer ${silent.token}` } });
    const opens: string[] = [];
    agentSocket.on('message', (data) => opens.push(data.toString()));
    await new Promise((resolve) => agentSocket.once('open', resolve));
    const console = open(provisioned.vmId, { token: operator.token });
    expect(await console.closed).toEqual({ code: ConsoleClose.FAILED, reason: 'The agent of host silent-host did not answer; it may need an update' });
    expect(opens.map((text) => JSON.parse(text).type)).toEqual(['open', 'close']);
    agentSocket.close();
    await silent.agent.disconnect();
  });

  it("an agent's console socket needs a host token (4403 for a user's)", async () => {
    const socket = new WebSocket(`${server.url.replace(/^http/, 'ws')}${AGENT_CONSOLE_PATH}`, { headers: { authorization: `Bearer ${operator.token}` } });
    const closed = await new Promise<number>((resolve) => socket.on('close', (code) => resolve(code)));
    expect(closed).toBe(ConsoleClose.FORBIDDEN);
  });

  it('a credential holds at most maxConsoleSessionsPerCredential sessions (4429)', async () => {
    const held = Array.from({ length: server.config.maxConsoleSessionsPerCredential }, () => open(vmId, { token: operator.token }));
    await Promise.all(held.map((socket) => socket.waitFor(':~# ')));
    const extra = open(vmId, { token: operator.token });
    expect(await extra.closed).toEqual({ code: ConsoleClose.TOO_MANY, reason: `At most ${server.config.maxConsoleSessionsPerCredential} console sessions per credential; close one first` });
    for (const socket of held) socket.close();
  });
});
