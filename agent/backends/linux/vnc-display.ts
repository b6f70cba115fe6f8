// A libvirt domain's graphics console: the VNC server QEMU runs for its
// `<graphics type='vnc' listen='127.0.0.1' autoport='yes'/>` (domain-xml.ts), reached over TCP
// on the host and relayed byte for byte, so the browser's noVNC speaks RFB to QEMU itself.

import { connect } from 'node:net';
import type { ConsoleHandlers, ConsoleSession } from '../../backend.ts';
import type { Virsh } from './virsh.ts';

/** RFB's display N listens on TCP port 5900 + N. */
const VNC_BASE_PORT = 5900;

/** Where the domain's VNC server listens, from `virsh vncdisplay` (`127.0.0.1:0`, or `:0`); throws when it has none. */
export async function vncAddress(virsh: Virsh, vmName: string): Promise<{ host: string; port: number }> {
  const display = (await virsh.run('vncdisplay', vmName)).trim();
  const match = /^(.*):(\d+)$/.exec(display);
  if (!match) throw new Error(`VM ${vmName} has no VNC graphics (virsh vncdisplay gave "${display.slice(0, 80)}")`);
  // An empty host (or a wildcard) is every address, this host's loopback among them.
  const host = match[1] === '' || match[1] === '0.0.0.0' || match[1] === '[::]' ? '127.0.0.1' : match[1]!.replace(/^\[(.*)\]$/, '$1');
  return { host, port: VNC_BASE_PORT + Number(match[2]) };
}

/** Connects to a VNC server and relays its bytes: what it sends goes to `handlers.output`, `write` sends to it. */
export function openVncConnection(address: { host: string; port: number }, handlers: ConsoleHandlers<Buffer>): Promise<ConsoleSession<Buffer>> {
  return new Promise((resolve, reject) => {
    const socket = connect(address);
    let closed = false;
    const finish = (reason: string | null) => {
      if (closed) return;
      closed = true;
      socket.destroy();
      if (reason) handlers.end(reason);
    };
    socket.once('error', (error) => reject(new Error(`The VNC server at ${address.host}:${address.port} refused the connection: ${error.message}`)));
    socket.once('connect', () => {
      socket.removeAllListeners('error');
      socket.on('error', (error) => finish(`The VNC connection failed: ${error.message}`));
      socket.on('data', (chunk: Buffer) => handlers.output(chunk));
      socket.on('close', () => finish('The VNC server closed the connection'));
      resolve({
        write(bytes) {
          if (!closed) socket.write(bytes);
        },
        close: () => finish(null),
      });
    });
  });
}
