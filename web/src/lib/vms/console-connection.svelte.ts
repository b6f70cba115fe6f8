// One VM console session in the browser: a WebSocket to the server's /console/<VM ID>, which
// authenticates it with the session cookie and relays it to the VM's host agent. Raw terminal
// text both ways; why it ended arrives as the close reason.

export type ConsoleState = 'connecting' | 'open' | 'closed';

/** Close codes that mean "this will not work by retrying as is" (see agent/console-protocol.ts). */
const REFUSALS = new Set([4401, 4403, 4404, 4409, 4429, 4503]);

export function consoleSocketUrl(vmId: string, location: Pick<Location, 'protocol' | 'host'> = window.location): string {
  return `${location.protocol === 'https:' ? 'wss' : 'ws'}://${location.host}/console/${encodeURIComponent(vmId)}`;
}

export class ConsoleConnection {
  state = $state<ConsoleState>('connecting');
  /** Why the session ended (the server's or the guest's words), once closed. */
  reason = $state<string | null>(null);
  /** Whether it was refused (not an operator, VM not running...) rather than ended. */
  refused = $state(false);
  #socket: WebSocket | null = null;

  /** Opens a session; `output` gets what the guest writes. Returns a function that closes it. */
  connect(vmId: string, output: (data: string) => void): () => void {
    this.state = 'connecting';
    this.reason = null;
    this.refused = false;
    const socket = new WebSocket(consoleSocketUrl(vmId));
    this.#socket = socket;
    let opened = false;
    socket.onmessage = (event) => {
      if (typeof event.data !== 'string') return;
      // The server accepts the socket before checking it: the first output says the guest is there.
      if (!opened) {
        opened = true;
        this.state = 'open';
      }
      output(event.data);
    };
    socket.onclose = (event) => {
      if (this.#socket !== socket) return;
      this.state = 'closed';
      this.refused = REFUSALS.has(event.code);
      this.reason = event.reason || (event.code === 1006 ? 'The connection to the server was lost' : 'The session ended');
    };
    return () => {
      if (this.#socket === socket) this.#socket = null;
      socket.close();
    };
  }

  send(data: string) {
    if (this.#socket?.readyState === WebSocket.OPEN) this.#socket.send(data);
  }
}
