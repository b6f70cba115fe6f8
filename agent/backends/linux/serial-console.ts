// A libvirt domain's serial console, relayed from the pty QEMU gives its `<serial type='pty'>`.
//
// Why the pty and not `virsh console`: virsh refuses to run without a controlling terminal,
// and the agent has none; `virsh ttyconsole` names the pty, which the agent (root, like
// libvirtd) opens itself. The pty is read through libuv's tty handle (no thread held per
// session) and written with short writes.

import { close, constants, open, write } from 'node:fs';
import { promisify } from 'node:util';
import { isatty, ReadStream } from 'node:tty';
import type { ConsoleHandlers, ConsoleSession } from '../../backend.ts';
import type { Virsh } from './virsh.ts';

/** The pty of a domain's first serial port, from `virsh ttyconsole`; throws when it has none. */
export async function serialPty(virsh: Virsh, vmName: string): Promise<string> {
  const path = (await virsh.run('ttyconsole', vmName)).trim();
  if (!path.startsWith('/dev/')) throw new Error(`VM ${vmName} has no serial console (virsh ttyconsole gave "${path.slice(0, 80)}")`);
  return path;
}

/** Relays a pty: what the guest writes goes to `handlers.output`, `write` types into it. */
export async function openSerialConsole(path: string, handlers: ConsoleHandlers): Promise<ConsoleSession> {
  const fd = await promisify(open)(path, constants.O_RDWR | constants.O_NOCTTY);
  if (!isatty(fd)) {
    close(fd, () => {});
    throw new Error(`${path} is not a terminal`);
  }
  // The tty stream owns the descriptor from here and closes it when destroyed.
  const reader = new ReadStream(fd);
  reader.setEncoding('utf8');
  // Raw: the guest's own line discipline handles echo and editing; the host's would double them.
  reader.setRawMode(true);
  let closed = false;
  const finish = (reason: string | null) => {
    if (closed) return;
    closed = true;
    reader.destroy();
    if (reason) handlers.end(reason);
  };
  reader.on('data', (chunk: string) => handlers.output(chunk));
  reader.on('error', (error) => finish(`The serial console closed: ${error.message}`));
  reader.on('end', () => finish('The serial console closed'));
  let writing = Promise.resolve();
  return {
    write(data) {
      if (closed) return;
      writing = writing.then(async () => {
        if (!closed) await promisify(write)(fd, data).catch((error: Error) => finish(`Writing to the serial console failed: ${error.message}`));
      });
    },
    close: () => finish(null),
  };
}
