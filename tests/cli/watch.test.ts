import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DetachDevice } from '../../protocol/commands.ts';
import { Seed } from '../support/seed.ts';
import { startTestServer, type TestServer } from '../support/server.ts';
import { lineOn, start } from './support.ts';
import { EXIT } from '../../cli/exit-codes.ts';

let server: TestServer;
let seed: Seed;

beforeAll(async () => {
  server = await startTestServer();
  seed = new Seed(server.client, server.url);
});
afterAll(async () => {
  await server?.stop();
});

describe('passthru watch', () => {
  it('prints a device change committed while it runs, live, one JSON object per line, and stops cleanly on SIGINT', async () => {
    const host = await seed.cluster().host({ name: 'gpu-w', nvme: 1 });
    const [nvme] = await seed.devices(host.id);
    const watch = start(['watch', 'devices', 'ops', '--host', 'gpu-w', '--json'], { PASSTHRU_SERVER: server.url, PASSTHRU_TOKEN: server.client.token! });
    try {
      await lineOn(watch.stderr!, (line) => line.startsWith('watching devices, ops on gpu-w'));
      // The operation's line lists its devices too, and either topic may be printed first.
      const detached = lineOn(watch.stdout!, (line) => line.startsWith('{"topic":"devices"') && line.includes('"status":"DETACHED"'));
      const { detachDevice } = await server.client.data(DetachDevice, { deviceId: nvme!.id });
      expect(detachDevice.__typename).toBe('DeviceOperationSuccess');
      const event = JSON.parse(await detached);
      expect(event).toMatchObject({ topic: 'devices', cursor: expect.any(String), devices: { id: nvme!.id, status: 'DETACHED', host: { name: 'gpu-w' } } });
    } finally {
      watch.kill('SIGINT');
    }
    const code = await new Promise((resolve) => watch.once('close', resolve));
    expect(code).toBe(EXIT.ok);
  });
});
