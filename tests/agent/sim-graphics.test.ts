import { describe, expect, it } from 'vitest';
import type { DiscoveredDevice } from '../../agent/backend.ts';
import { SimBackend } from '../../agent/backends/sim/index.ts';
import { blockAt, GUEST_SCREEN, guestScreen } from '../../agent/backends/sim/guest-screen.ts';
import { RfbServer } from '../../agent/backends/sim/rfb-server.ts';
import { ByteReader, rfbClient } from '../support/rfb.ts';

const base = { vendorId: '10de', productId: '2204', vendorName: null, productName: null, serial: null, iommuGroup: 1, numaNode: 0, driver: 'vfio-pci', classCode: null, subsystemVendorId: null, subsystemProductId: null, revision: null, inUse: null };
const GPU: DiscoveredDevice = { ...base, kind: 'GPU', address: '0000:17:00.0' };
const USB: DiscoveredDevice = { ...base, kind: 'USB', address: '1-2' };

function serve(devices: DiscoveredDevice[]) {
  const reader = new ByteReader();
  const failures: string[] = [];
  const server = new RfbServer(guestScreen('vm-7', () => devices), (bytes) => reader.push(bytes), (reason) => failures.push(reason));
  server.start();
  return { server, reader, failures };
}

/** Runs the handshake up to ServerInit as noVNC does; returns the ServerInit fields. */
async function handshake({ server, reader }: ReturnType<typeof serve>) {
  expect((await reader.read(12)).toString('latin1')).toBe('RFB 003.008\n');
  server.receive(rfbClient.version);
  expect([...(await reader.read(2))]).toEqual([1, 1]);
  server.receive(rfbClient.chooseNone);
  expect((await reader.read(4)).readUInt32BE(0)).toBe(0);
  server.receive(rfbClient.init);
  const init = await reader.read(24);
  const name = (await reader.read(init.readUInt32BE(20))).toString();
  return { width: init.readUInt16BE(0), height: init.readUInt16BE(2), bitsPerPixel: init[4], trueColour: init[7], name };
}

/** Reads one FramebufferUpdate of one Raw rectangle; `pixel(x, y)` gives [r, g, b] in the client's format set above. */
async function update(reader: ByteReader) {
  const header = await reader.read(16);
  expect(header[0]).toBe(0);
  expect(header.readUInt16BE(2)).toBe(1);
  const [x, y, width, height] = [4, 6, 8, 10].map((at) => header.readUInt16BE(at));
  expect(header.readInt32BE(12)).toBe(0);
  const pixels = await reader.read(width! * height! * 4);
  return { x, y, width, height, pixel: (px: number, py: number) => [...pixels.subarray((py * width! + px) * 4, (py * width! + px) * 4 + 3)] };
}

const rgb = (color: number) => [(color >> 16) & 0xff, (color >> 8) & 0xff, color & 0xff];

describe("the simulated guest's RFB server", () => {
  it('completes the RFB 3.8 handshake with security None and announces a 640x400 32-bit true colour screen named after the VM', async () => {
    const session = serve([]);
    expect(await handshake(session)).toEqual({ width: 640, height: 400, bitsPerPixel: 32, trueColour: 1, name: 'vm-7' });
    expect(session.failures).toEqual([]);
  });

  it("answers a full update request with Raw pixels in the viewer's pixel format: the band, then one block per device coloured by kind", async () => {
    const session = serve([GPU, USB]);
    await handshake(session);
    session.server.receive(Buffer.concat([rfbClient.setPixelFormat(), rfbClient.updateRequest(false, 640, 400)]));
    const frame = await update(session.reader);
    expect([frame.width, frame.height]).toEqual([640, 400]);
    expect(frame.pixel(5, 5)).toEqual(rgb(GUEST_SCREEN.band.color));
    expect(frame.pixel(5, 300)).toEqual(rgb(GUEST_SCREEN.background));
    expect(frame.pixel(blockAt(0).x + 2, blockAt(0).y + 2)).toEqual(rgb(GUEST_SCREEN.colors.GPU));
    expect(frame.pixel(blockAt(1).x + 2, blockAt(1).y + 2)).toEqual(rgb(GUEST_SCREEN.colors.USB));
    expect(frame.pixel(blockAt(2).x + 2, blockAt(2).y + 2)).toEqual(rgb(GUEST_SCREEN.background));
  });

  it('answers an incremental update request only once the picture changed (a device assigned)', async () => {
    const devices: DiscoveredDevice[] = [];
    const session = serve(devices);
    await handshake(session);
    session.server.receive(Buffer.concat([rfbClient.setPixelFormat(), rfbClient.updateRequest(false, 640, 400)]));
    await update(session.reader);
    session.server.receive(rfbClient.updateRequest(true, 640, 400));
    session.server.refresh();
    expect(session.reader.available).toBe(0);
    devices.push(GPU);
    session.server.refresh();
    const frame = await update(session.reader);
    expect(frame.pixel(blockAt(0).x, blockAt(0).y)).toEqual(rgb(GUEST_SCREEN.colors.GPU));
  });

  it('ends the session, saying why, when the viewer speaks another RFB version', async () => {
    const session = serve([]);
    session.server.receive(Buffer.from('RFB 003.003\n', 'latin1'));
    expect(session.failures).toEqual(['The viewer speaks "RFB 003.003"; this screen speaks RFB 3.8']);
  });
});

describe("a simulated host's graphics console", () => {
  const host = () => new SimBackend({ name: 'sim-1', latencyMs: 0, usb: [{ model: 'sandisk-ultra-fit' }] });

  it('redraws when a device is assigned to the VM while a viewer waits, and ends when the VM stops', async () => {
    const sim = host();
    await sim.provisionVm({ name: 'vm-1', cores: 1, memoryMb: 512, diskGb: 0, devices: [] });
    const reader = new ByteReader();
    const ended: string[] = [];
    const session = await sim.openGraphics('vm-1', { output: (bytes) => reader.push(bytes), end: (reason) => ended.push(reason) });
    await reader.read(12);
    session.write(Buffer.concat([rfbClient.version, rfbClient.chooseNone, rfbClient.init]));
    await reader.read(2 + 4 + 24 + 'vm-1'.length);
    session.write(Buffer.concat([rfbClient.setPixelFormat(), rfbClient.updateRequest(false, 640, 400), rfbClient.updateRequest(true, 640, 400)]));
    expect((await update(reader)).pixel(blockAt(0).x, blockAt(0).y)).toEqual(rgb(GUEST_SCREEN.background));
    await sim.assignDevice('vm-1', { kind: 'USB', address: '1-1', vendorId: '0781', productId: '5583' });
    expect((await update(reader)).pixel(blockAt(0).x, blockAt(0).y)).toEqual(rgb(GUEST_SCREEN.colors.USB));
    await sim.stopVm('vm-1');
    expect(ended).toEqual(['VM vm-1 was stopped']);
    await expect(sim.openGraphics('vm-1', { output: () => {}, end: () => {} })).rejects.toThrow('VM vm-1 is not running; start it to use its console');
  });
});
