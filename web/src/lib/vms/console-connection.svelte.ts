// One VM console session in the browser: a WebSocket to the server's /console/<VM ID>, which
// authenticates it with the session cookie and relays it to the VM's host agent. A serial session
// carries raw terminal text both ways; a graphics session RFB bytes, spoken by noVNC over the same
// socket. Why it ended arrives as the close reason.

import { ConsoleClose, type ConsoleKind } from '../../../../protocol/console.ts';

export type { ConsoleKind };
export type ConsoleState = 'connecting' | 'open' | 'closed';

/** Close codes that mean "this will not work by retrying as is": the 4xxx ones. */
const REFUSALS = new Set<number>(Object.values(ConsoleClose).filter((code) => code >= 4000));

export function consoleSocketUrl(vmId: string, location: Pick<Location, 'protocol' | 'host'> = window.location, kind: ConsoleKind = 'serial'): string {
  const query = kind === 'serial' ? '' : `?kind=${kind}`;
  return `${location.protocol === 'https:' ? 'wss' : 'ws'}://${location.host}/console/${encodeURIComponent(vmId)}${query}`;
}

export class ConsoleConnection {
  state = $state<ConsoleState>('connecting');
  /** Why the session ended (the server's or the guest's words), once closed. */
  reason = $state<string | null>(null);
  /** Whether it was refused (not an operator, VM not running...) rather than ended. */
  refused = $state(false);
  #socket: WebSocket | null = null;

  /** Opens a session's socket and follows how it ends; the caller reads it (or hands it to noVNC) and calls `opened()`. */
  open(vmId: string, kind: ConsoleKind): WebSocket {
    this.state = 'connecting';
    this.reason = null;
    this.refused = false;
    const socket = new WebSocket(consoleSocketUrl(vmId, window.location, kind));
    this.#socket = socket;
    // A listener, not onclose: noVNC sets the socket's on* handlers for itself.
    socket.addEventListener('close', (event) => {
      if (this.#socket !== socket) return;
      this.state = 'closed';
      this.refused = REFUSALS.has(event.code);
      this.reason = event.reason || (event.code === 1006 ? 'The connection to the server was lost' : 'The session ended');
    });
    return socket;
  }

  /**
   * The guest is there: the server accepts the socket before checking it, so the first output
   * (serial) or a completed RFB handshake (graphics) is what says so.
   */
  opened() {
    if (this.#socket && this.state === 'connecting') this.state = 'open';
  }

  /** Opens a serial session; `output` gets what the guest writes. Returns a function that closes it. */
  connect(vmId: string, output: (data: string) => void): () => void {
    const socket = this.open(vmId, 'serial');
    socket.onmessage = (event) => {
      if (typeof event.data !== 'string') return;
      this.opened();
      output(event.data);
    };
    return () => this.close(socket);
  }

  close(socket: WebSocket) {
    if (this.#socket === socket) this.#socket = null;
    socket.close();
  }

  send(data: string) {
    if (this.#socket?.readyState === WebSocket.OPEN) this.#socket.send(data);
  }
}
