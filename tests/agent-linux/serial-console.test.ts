import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';
import { afterAll, describe, expect, it } from 'vitest';
import { LinuxBackend } from '../../agent/backends/linux/index.ts';
import { eventually } from '../support/client.ts';
import { fakeVirsh, type FakeVirsh } from './fake-virsh.ts';

function findPython(): boolean {
  try {
    execFileSync('python3', ['-c', 'import pty'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}
const hasPython = findPython();

/**
 * A stand-in for QEMU's serial pty: Python opens a pty pair, prints the name of the end
 * QEMU would hand to libvirt, and plays the guest on the other end: it greets until it reads something, then answers
 * each chunk it reads with "guest read: ...". Node has no pty of its own to do this with.
 */
const GUEST = `
import os, pty, select, sys, tty
master, slave = pty.openpty()
# No echo on the host's end: only what the console types is read back.
tty.setraw(slave)
print(os.ttyname(slave), flush=True)
# Greets again until someone types, as a getty does: a greeting written before the console
# opened the pty can be lost when it switches the pty to raw mode.
while not select.select([master], [], [], 0.2)[0]:
    os.write(master, b"login: ")
while True:
    data = os.read(master, 1024)
    if not data:
        break
    os.write(master, b"guest read: " + data)
`;

async function fakeGuest(): Promise<{ process: ChildProcess; pty: string }> {
  const child = spawn('python3', ['-c', GUEST], { stdio: ['ignore', 'pipe', 'inherit'] });
  const { value: pty } = await createInterface({ input: child.stdout! })[Symbol.asyncIterator]().next();
  if (typeof pty !== 'string') throw new Error('the fake guest printed no pty');
  return { process: child, pty };
}

const cleanups: Array<() => unknown> = [];
afterAll(async () => {
  for (const cleanup of cleanups.splice(0)) await cleanup();
});

describe.skipIf(!hasPython)(`the linux backend's serial console${hasPython ? '' : ' (skipped: no python3 to make a pty)'}`, () => {
  async function setUp(state: string) {
    const guest = await fakeGuest();
    cleanups.push(() => guest.process.kill());
    const virsh: FakeVirsh = await fakeVirsh({ domstate: { stdout: `${state}\n` }, ttyconsole: { stdout: `${guest.pty}\n` } });
    cleanups.push(virsh.remove);
    const backend = new LinuxBackend({ virsh: { binary: virsh.binary, uri: 'test:///default' } });
    return { guest, virsh, backend };
  }

  it("relays the pty `virsh ttyconsole` names: the guest's output to the session, keystrokes to the guest", async () => {
    const { virsh, backend } = await setUp('running');
    let output = '';
    const ended: string[] = [];
    const session = await backend.openConsole('ml-train-01', { output: (data) => (output += data), end: (reason) => ended.push(reason) });
    await eventually(async () => output.includes('login: '));
    session.write('root\r');
    await eventually(async () => output.includes('guest read: root'));
    const commands = await virsh.calls();
    expect(commands.map((call) => call.argv.slice(2))).toEqual([
      ['domstate', 'ml-train-01'],
      ['ttyconsole', 'ml-train-01'],
    ]);
    session.close();
    expect(ended).toEqual([]);
  });

  it('refuses the console of a VM that is not running, saying so', async () => {
    const { backend } = await setUp('shut off');
    await expect(backend.openConsole('ml-train-01', { output: () => {}, end: () => {} })).rejects.toThrow('VM ml-train-01 is not running; start it to use its console');
  });
});
