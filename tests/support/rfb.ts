import { eventually } from './client.ts';

/** The client's half of RFB 3.8 as a test drives it: the messages it sends, and a reader of what came back. */
export const rfbClient = {
  version: Buffer.from('RFB 003.008\n', 'latin1'),
  /** Security type None. */
  chooseNone: Buffer.from([1]),
  /** ClientInit, shared. */
  init: Buffer.from([1]),
  /** SetPixelFormat as noVNC sends it: 32 bits, red in the low byte, little-endian. */
  setPixelFormat(): Buffer {
    const message = Buffer.alloc(20);
    message.writeUInt8(0, 0);
    Buffer.from([32, 24, 0, 1, 0, 255, 0, 255, 0, 255, 0, 8, 16, 0, 0, 0]).copy(message, 4);
    return message;
  },
  updateRequest(incremental: boolean, width: number, height: number): Buffer {
    const message = Buffer.alloc(10);
    message.writeUInt8(3, 0);
    message.writeUInt8(incremental ? 1 : 0, 1);
    message.writeUInt16BE(width, 6);
    message.writeUInt16BE(height, 8);
    return message;
  },
};

/** Bytes as they arrive, read in order a number at a time. */
export class ByteReader {
  #received = Buffer.alloc(0);

  push(bytes: Buffer) {
    this.#received = Buffer.concat([this.#received, bytes]);
  }

  get available(): number {
    return this.#received.length;
  }

  async read(length: number, timeoutMs = 10_000): Promise<Buffer> {
    await eventually(async () => this.#received.length >= length, timeoutMs, 10);
    const bytes = this.#received.subarray(0, length);
    this.#received = this.#received.subarray(length);
    return bytes;
  }
}
