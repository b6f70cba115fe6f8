import { createServer, type Server, type Socket } from 'node:net';
import { afterAll, describe, expect, it } from 'vitest';
import { LinuxBackend } from '../../agent/backends/linux/index.ts';
import { eventually } from '../support/client.ts';
import { ByteReader } from '../support/rfb.ts';
import { fakeVirsh } from './fake-virsh.ts';

const cleanups: Array<() => unknown> = [];
afterAll(async () => {
  for (const cleanup of cleanups.splice(0)) await cleanup();
});

/** A stand-in for QEMU's VNC server on 127.0.0.1: it sends the RFB version, then echoes what it reads. */
async function fakeVncServer(): Promise<{ server: Server; port: number; clients: Socket[] }> {
  const clients: Socket[] = [];
  const server = createServer((socket) => {
    clients.push(socket);
    socket.write('RFB 003.008\n');
    socket.on('data', (chunk) => socket.write(chunk));
    socket.on('error', () => {});
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  if (address === null || typeof address === 'string') throw new Error('the fake VNC server has no TCP port');
  cleanups.push(() => new Promise((resolve) => server.close(resolve)));
  return { server, port: address.port, clients };
}

async function setUp(state: string, display: (port: number) => string) {
  const vnc = await fakeVncServer();
  const virsh = await fakeVirsh({ domstate: { stdout: `${state}\n` }, vncdisplay: { stdout: `${display(vnc.port)}\n` } });
  cleanups.push(virsh.remove);
  const backend = new LinuxBackend({ virsh: { binary: virsh.binary, uri: 'test:///default' } });
  return { vnc, virsh, backend };
}

describe("the linux backend's graphics console", () => {
  it('relays the VNC server `virsh vncdisplay` names (display :N is port 5900+N on 127.0.0.1), bytes unchanged both ways', async () => {
    const { vnc, virsh, backend } = await setUp('running', (port) => `127.0.0.1:${port - 5900}`);
    const received = new ByteReader();
    const ended: string[] = [];
    const session = await backend.openGraphics('ml-train-01', { output: (bytes) => received.push(bytes), end: (reason) => ended.push(reason) });
    expect((await received.read(12)).toString('latin1')).toBe('RFB 003.008\n');
    const binary = Buffer.from([0, 1, 2, 0xff, 0x80, 10]);
    session.write(binary);
    expect(await received.read(binary.length)).toEqual(binary);
    expect((await virsh.calls()).map((call) => call.argv.slice(2))).toEqual([
      ['domstate', 'ml-train-01'],
      ['vncdisplay', 'ml-train-01'],
    ]);
    // QEMU closing the connection (the domain stopped) ends the session, saying so.
    vnc.clients[0]!.destroy();
    await eventually(async () => ended.length > 0);
    expect(ended).toEqual(['The VNC server closed the connection']);
    session.close();
  });

  it('takes a display without a host (":N") as this host', async () => {
    const { backend } = await setUp('running', (port) => `:${port - 5900}`);
    const received = new ByteReader();
    const session = await backend.openGraphics('ml-train-01', { output: (bytes) => received.push(bytes), end: () => {} });
    expect((await received.read(12)).toString('latin1')).toBe('RFB 003.008\n');
    session.close();
  });

  it('refuses the graphics console of a VM that is not running, saying so', async () => {
    const { backend } = await setUp('shut off', () => '');
    await expect(backend.openGraphics('ml-train-01', { output: () => {}, end: () => {} })).rejects.toThrow('VM ml-train-01 is not running; start it to use its console');
  });

  it('refuses a domain without VNC graphics, with what virsh said', async () => {
    const { backend } = await setUp('running', () => '');
    await expect(backend.openGraphics('ml-train-01', { output: () => {}, end: () => {} })).rejects.toThrow('VM ml-train-01 has no VNC graphics (virsh vncdisplay gave "")');
  });
});
