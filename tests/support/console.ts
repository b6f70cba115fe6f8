import { WebSocket } from 'ws';
import type { ConsoleKind } from '../../protocol/console.ts';
import { eventually } from './client.ts';
import { ByteReader } from './rfb.ts';

/** A console session as a script would open it: `/console/<VM ID>` with a bearer token or a session cookie. */
export class ConsoleSocket {
  readonly socket: WebSocket;
  /** Text frames (serial). */
  output = '';
  /** Binary frames (graphics). */
  readonly bytes = new ByteReader();
  /** Resolves with the close code and reason once the server (or we) closed the socket. */
  readonly closed: Promise<{ code: number; reason: string }>;

  constructor(url: string, vmId: string, credential: { token?: string | null; cookie?: string | null }, kind?: ConsoleKind | 'unknown') {
    const headers: Record<string, string> = {};
    if (credential.token) headers.authorization = `Bearer ${credential.token}`;
    if (credential.cookie) headers.cookie = credential.cookie;
    this.socket = new WebSocket(`${url.replace(/^http/, 'ws')}/console/${encodeURIComponent(vmId)}${kind ? `?kind=${kind}` : ''}`, { headers });
    this.socket.on('message', (data: Buffer, isBinary) => {
      if (isBinary) this.bytes.push(data);
      else this.output += data.toString();
    });
    this.socket.on('error', () => {});
    this.closed = new Promise((resolve) => this.socket.on('close', (code, reason) => resolve({ code, reason: reason.toString() })));
  }

  /** Waits until the output so far contains `text`; returns the output after `from`. */
  async waitFor(text: string, from = 0, timeoutMs = 10_000): Promise<string> {
    return eventually(async () => (this.output.slice(from).includes(text) ? this.output.slice(from) : null), timeoutMs);
  }

  /** Types a command, waits for the prompt after it, and returns what it printed (without the echo and prompt). */
  async run(command: string, prompt = ':~# '): Promise<string> {
    const from = this.output.length;
    this.socket.send(`${command}\r`);
    await this.waitFor(prompt, from + command.length);
    const after = this.output.slice(from);
    return after.slice(command.length + 2, after.lastIndexOf('root@')).replace(/\r\n$/, '');
  }

  close() {
    this.socket.close();
  }
}
