import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EXIT } from '../../cli/exit-codes.ts';
import { Seed, type SeededHost } from '../support/seed.ts';
import { startTestServer, type TestServer } from '../support/server.ts';
import { passthru } from './support.ts';

let server: TestServer;
let seed: Seed;
let env: NodeJS.ProcessEnv;
let hostA: SeededHost;

beforeAll(async () => {
  server = await startTestServer();
  seed = new Seed(server.client, server.url);
  const lab = await seed.cluster('lab');
  hostA = await lab.host({ name: 'gpu-a', gpus: 2, nvme: 1, usb: 1 });
  await lab.host({ name: 'gpu-b', gpus: 1 });
  await seed.plan({ name: 'one-gpu', gpuCount: 1 });
  env = { PASSTHRU_SERVER: server.url, PASSTHRU_TOKEN: server.client.token!, XDG_CONFIG_HOME: '/nonexistent' };
});
afterAll(async () => {
  await server?.stop();
});

describe('listing', () => {
  it('devices --host --kind --status lists only the matching devices, as JSON scripts can parse', async () => {
    const gpus = await passthru(['devices', '--host', 'gpu-a', '--kind', 'gpu', '--status', 'DETACHED,ATTACHED', '--json'], env);
    expect(gpus.code).toBe(EXIT.ok);
    const listed: { address: string; kind: string; status: string; host: { name: string } }[] = JSON.parse(gpus.stdout);
    expect(listed.map((d) => [d.host.name, d.address, d.kind, d.status])).toEqual([
      ['gpu-a', '0000:41:00.0', 'GPU', 'DETACHED'],
      ['gpu-a', '0000:42:00.0', 'GPU', 'DETACHED'],
    ]);
    const attached = await passthru(['devices', '--status', 'ATTACHED', '--json'], env);
    expect(JSON.parse(attached.stdout).map((d: { kind: string }) => d.kind).sort()).toEqual(['NVME', 'USB']);
  });

  it('hosts prints a table for people, a header and one row per host; plans --json prints what scripts parse', async () => {
    const hosts = await passthru(['hosts'], env);
    expect(hosts.code).toBe(EXIT.ok);
    const [header, ...rows] = hosts.stdout.trimEnd().split('\n');
    expect(header).toMatch(/^ID\s+NAME\s+CLUSTER\s+STATUS\s+CPUS\s+MEMORY\s+VMS\s+SEEN\s+DEVICES$/);
    expect(rows.map((row) => row.split(/\s{2,}/).slice(1, 4))).toEqual([
      ['gpu-a', 'lab', 'ONLINE'],
      ['gpu-b', 'lab', 'ONLINE'],
    ]);
    const plans = await passthru(['plans', '--json'], env);
    expect(JSON.parse(plans.stdout)).toEqual([expect.objectContaining({ name: 'one-gpu', gpuCount: 1, provisionType: 'KVM' })]);
  });

  it('a name that names nothing exits with the not-found status', async () => {
    const result = await passthru(['devices', '--host', 'no-such-host'], env);
    expect(result.code).toBe(EXIT.notFound);
    expect(result.stderr).toBe('passthru: no host is named "no-such-host"; see passthru hosts\n');
  });
});

describe('device and VM commands', () => {
  it('detach waits for the host agent to finish and prints the device DETACHED', async () => {
    const detach = await passthru(['detach', 'gpu-a/0000:01:00.0', '--json'], env);
    expect(detach.stderr).toBe('');
    expect(detach.code).toBe(EXIT.ok);
    const { operation } = JSON.parse(detach.stdout);
    expect(operation).toMatchObject({ type: 'DETACH', status: 'SUCCEEDED', host: { name: 'gpu-a' } });
    expect(operation.devices.nodes).toEqual([expect.objectContaining({ address: '0000:01:00.0', status: 'DETACHED' })]);
    expect(hostA.agent.received.map((o) => o.type)).toContain('DETACH');
    const ops = await passthru(['ops', '--host', 'gpu-a', '--status', 'succeeded', '--json'], env);
    expect(ops.stderr).toBe('');
    expect(JSON.parse(ops.stdout)).toEqual([expect.objectContaining({ id: operation.id, type: 'DETACH', status: 'SUCCEEDED' })]);
  });

  it('an operation the host agent fails exits with the operation-failed status and its error', async () => {
    hostA.agent.respond = () => ({ succeeded: false, error: 'vfio-pci refused to bind' });
    try {
      const attach = await passthru(['attach', 'gpu-a/0000:01:00.0'], env);
      expect(attach.code).toBe(EXIT.operationFailed);
      expect(attach.stderr).toContain('passthru: ATTACH failed on gpu-a: vfio-pci refused to bind');
    } finally {
      hostA.agent.respond = () => ({ succeeded: true });
    }
  });

  it('detaching an assigned device is an illegal transition: the conflict status and the server’s message', async () => {
    const provision = await passthru(['provision', 'vm-1', '--plan', 'one-gpu', '--host', 'gpu-a', '--json'], env);
    expect(provision.code).toBe(EXIT.ok);
    expect(JSON.parse(provision.stdout).operation).toMatchObject({ type: 'PROVISION', status: 'SUCCEEDED', vm: { name: 'vm-1' } });
    const [assigned] = JSON.parse((await passthru(['devices', '--host', 'gpu-a', '--status', 'ASSIGNED', '--json'], env)).stdout);

    const detach = await passthru(['detach', assigned.id], env);
    expect(detach.code).toBe(EXIT.conflict);
    expect(detach.stderr).toBe(`passthru: GPU ${assigned.address} cannot be detached: it is assigned to vm-1; release it first\n`);

    const asJson = await passthru(['detach', assigned.id, '--json'], env);
    expect(asJson.code).toBe(EXIT.conflict);
    expect(JSON.parse(asJson.stderr)).toEqual({ error: { message: expect.stringContaining('release it first'), type: 'InvalidTransitionError', exitCode: EXIT.conflict } });

    const deleted = await passthru(['delete', 'vm-1'], env);
    expect(deleted.code).toBe(EXIT.ok);
    expect(deleted.stdout).toMatch(/^TEARDOWN succeeded on gpu-a \(VM vm-1\)/);
    expect((await seed.device(assigned.id)).status).toBe('DETACHED');
  });
});
