// A simulated guest's console sessions: its serial shell (guest-shell.ts) and its screen over
// RFB (guest-screen.ts), each ended when its domain stops or goes.

import type { ConsoleHandlers, ConsoleSession, DiscoveredDevice } from '../../backend.ts';
import { GuestShell } from './guest-shell.ts';
import { guestScreen } from './guest-screen.ts';
import { RfbServer } from './rfb-server.ts';

/** The devices passed through to the domain now, as the guest sees them. */
type GuestDevices = () => DiscoveredDevice[];

export class SimConsoles {
  /** Each running domain's open console sessions (serial and graphics), ended with it. */
  readonly #open = new Map<string, Set<Pick<ConsoleHandlers, 'end'>>>();

  #sessionsOf(vmName: string) {
    const open = this.#open.get(vmName) ?? new Set();
    this.#open.set(vmName, open);
    return open;
  }

  /**
   * A guest shell whose `lspci`/`lsusb` read the domain's hostdevs when they run, so they list
   * exactly what is passed through at that moment (a USB device pulled out of the host is gone
   * from the guest too).
   */
  openShell(vmName: string, devices: GuestDevices, handlers: ConsoleHandlers): ConsoleSession {
    const open = this.#sessionsOf(vmName);
    let closed = false;
    const session: ConsoleHandlers = {
      output: (data) => {
        if (!closed) handlers.output(data);
      },
      end: (reason) => {
        if (closed) return;
        closed = true;
        open.delete(session);
        handlers.end(reason);
      },
    };
    open.add(session);
    const shell = new GuestShell(vmName, devices, session.output, session.end);
    shell.start();
    return {
      write: (data) => {
        if (!closed) shell.input(data);
      },
      close: () => {
        closed = true;
        open.delete(session);
      },
    };
  }

  /** The guest's screen: one coloured block per device passed through, redrawn when that changes. */
  openScreen(vmName: string, devices: GuestDevices, handlers: ConsoleHandlers<Buffer>): ConsoleSession<Buffer> {
    const open = this.#sessionsOf(vmName);
    let closed = false;
    const stop = () => {
      closed = true;
      clearInterval(redraw);
      open.delete(session);
    };
    const session = {
      end: (reason: string) => {
        if (closed) return;
        stop();
        handlers.end(reason);
      },
    };
    open.add(session);
    const server = new RfbServer(guestScreen(vmName, devices), (bytes) => {
      if (!closed) handlers.output(bytes);
    }, session.end);
    // A viewer waiting for a change sees an assigned or released device within a second.
    const redraw = setInterval(() => server.refresh(), 500);
    server.start();
    return {
      write: (bytes) => {
        if (!closed) server.receive(bytes);
      },
      close: stop,
    };
  }

  /** Ends every session of the domain, telling each viewer why. */
  endAll(vmName: string, reason: string): void {
    for (const session of [...(this.#open.get(vmName) ?? [])]) session.end(reason);
    this.#open.delete(vmName);
  }
}
