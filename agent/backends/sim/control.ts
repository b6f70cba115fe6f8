// A small HTTP API on 127.0.0.1 for poking a simulated host from outside its agent process:
// pull a device, plug it back, inject a fault. Tests and demos drive real agent processes
// through it, the way an operator would pull a drive from a real server.
//
//   GET    /state                                   devices, unplugged devices, domains
//   POST   /devices/remove  {"address": "1-2"}      pull a device out
//   POST   /devices/plug    {"address", "at"?}      put a pulled device back (optionally elsewhere)
//   POST   /devices/add     {device}                plug in a new device
//   POST   /faults          {fault}                 inject a fault (see SimFault)
//   DELETE /faults                                  clear faults

import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { SimBackend } from './backend.ts';
import { parseFault } from './config.ts';

export interface SimControl {
  port: number;
  close(): Promise<void>;
}

async function body(req: IncomingMessage): Promise<Record<string, unknown>> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    size += (chunk as Buffer).length;
    if (size > 64 * 1024) throw new Error('request body too large');
    chunks.push(chunk as Buffer);
  }
  if (chunks.length === 0) return {};
  const parsed = JSON.parse(Buffer.concat(chunks).toString('utf8')) as unknown;
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) throw new Error('body must be a JSON object');
  return parsed as Record<string, unknown>;
}

function text(value: unknown, name: string): string {
  if (typeof value !== 'string' || value === '') throw new Error(`"${name}" must be a non-empty string`);
  return value;
}

export async function startSimControl(backend: SimBackend, port: number): Promise<SimControl> {
  const server: Server = createServer(async (req, res) => {
    const reply = (status: number, payload: unknown) => {
      res.writeHead(status, { 'content-type': 'application/json' });
      res.end(JSON.stringify(payload));
    };
    try {
      const route = `${req.method} ${req.url?.split('?')[0]}`;
      switch (route) {
        case 'GET /state':
          return reply(200, backend.snapshot());
        case 'POST /devices/remove': {
          const input = await body(req);
          return reply(200, { removed: backend.removeDevice(text(input.address, 'address')) });
        }
        case 'POST /devices/plug': {
          const input = await body(req);
          const address = text(input.address, 'address');
          return reply(200, { plugged: backend.plugDevice(address, input.at === undefined ? address : text(input.at, 'at')) });
        }
        case 'POST /devices/add': {
          const input = await body(req);
          return reply(200, { added: backend.addDevice(input.device as Parameters<SimBackend['addDevice']>[0]) });
        }
        case 'POST /faults': {
          const input = await body(req);
          backend.injectFault(parseFault('fault', input.fault ?? input));
          return reply(200, { ok: true });
        }
        case 'DELETE /faults':
          backend.clearFaults();
          return reply(200, { ok: true });
        default:
          return reply(404, { error: `no route ${route}` });
      }
    } catch (error) {
      return reply(400, { error: (error as Error).message });
    }
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, '127.0.0.1', resolve);
  });
  return {
    port: (server.address() as AddressInfo).port,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}
