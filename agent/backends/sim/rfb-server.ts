// A minimal RFB 3.8 (VNC) server for the simulated guest's screen, so the graphics console runs
// end to end without QEMU: noVNC in the browser speaks to it through the same relay as to QEMU's
// VNC server. No maintained npm package serves RFB (the ones there are clients, or abandoned), and
// the subset needed is small (RFC 6143): security type None, Raw encoding, 32-bit true colour.

/** A picture to serve: `pixels()` gives 0xRRGGBB per pixel, row by row. */
export interface Screen {
  readonly width: number;
  readonly height: number;
  /** The desktop name the viewer shows. */
  readonly name: string;
  pixels(): Uint32Array;
}

interface PixelFormat {
  bitsPerPixel: number;
  depth: number;
  bigEndian: boolean;
  trueColour: boolean;
  redMax: number;
  greenMax: number;
  blueMax: number;
  redShift: number;
  greenShift: number;
  blueShift: number;
}

interface Rect {
  x: number;
  y: number;
  width: number;
  height: number;
}

export const RFB_VERSION = 'RFB 003.008\n';
const SECURITY_NONE = 1;
const ENCODING_RAW = 0;
/** A viewer's clipboard is read and dropped; more than this is not a viewer's clipboard. */
const MAX_CUT_TEXT_BYTES = 1024 * 1024;

/** What the server announces in ServerInit: 32 bits per pixel, 0x00RRGGBB, little-endian. */
const SERVER_FORMAT: PixelFormat = {
  bitsPerPixel: 32,
  depth: 24,
  bigEndian: false,
  trueColour: true,
  redMax: 255,
  greenMax: 255,
  blueMax: 255,
  redShift: 16,
  greenShift: 8,
  blueShift: 0,
};

function encodeFormat(format: PixelFormat): Buffer {
  const bytes = Buffer.alloc(16);
  bytes.writeUInt8(format.bitsPerPixel, 0);
  bytes.writeUInt8(format.depth, 1);
  bytes.writeUInt8(format.bigEndian ? 1 : 0, 2);
  bytes.writeUInt8(format.trueColour ? 1 : 0, 3);
  bytes.writeUInt16BE(format.redMax, 4);
  bytes.writeUInt16BE(format.greenMax, 6);
  bytes.writeUInt16BE(format.blueMax, 8);
  bytes.writeUInt8(format.redShift, 10);
  bytes.writeUInt8(format.greenShift, 11);
  bytes.writeUInt8(format.blueShift, 12);
  return bytes;
}

function decodeFormat(bytes: Buffer): PixelFormat {
  return {
    bitsPerPixel: bytes.readUInt8(0),
    depth: bytes.readUInt8(1),
    bigEndian: bytes.readUInt8(2) !== 0,
    trueColour: bytes.readUInt8(3) !== 0,
    redMax: bytes.readUInt16BE(4),
    greenMax: bytes.readUInt16BE(6),
    blueMax: bytes.readUInt16BE(8),
    redShift: bytes.readUInt8(10),
    greenShift: bytes.readUInt8(11),
    blueShift: bytes.readUInt8(12),
  };
}

/**
 * One viewer's session: `receive` takes what the viewer sent, `send` gets what goes back, `fail`
 * ends the session with why. Full update requests are answered at once; an incremental one waits
 * until `refresh()` finds the picture changed.
 */
export class RfbServer {
  readonly #screen: Screen;
  readonly #send: (bytes: Buffer) => void;
  readonly #fail: (reason: string) => void;
  #stage: 'version' | 'security' | 'init' | 'normal' | 'failed' = 'version';
  #received = Buffer.alloc(0);
  #format = SERVER_FORMAT;
  /** An incremental update request waiting for the picture to change. */
  #waiting: Rect | null = null;
  /** The picture last sent, to tell whether it changed. */
  #shown: Uint32Array | null = null;

  constructor(screen: Screen, send: (bytes: Buffer) => void, fail: (reason: string) => void) {
    this.#screen = screen;
    this.#send = send;
    this.#fail = fail;
  }

  start() {
    this.#send(Buffer.from(RFB_VERSION, 'latin1'));
  }

  receive(bytes: Buffer) {
    this.#received = Buffer.concat([this.#received, bytes]);
    let used = this.#step();
    while (used > 0 && this.#stage !== 'failed') {
      this.#received = this.#received.subarray(used);
      used = this.#step();
    }
  }

  /** Sends the waiting incremental update if the picture changed since it was last sent. */
  refresh() {
    if (!this.#waiting) return;
    const pixels = this.#screen.pixels();
    if (this.#shown && Buffer.from(pixels.buffer).equals(Buffer.from(this.#shown.buffer))) return;
    const rect = this.#waiting;
    this.#waiting = null;
    this.#update(rect, pixels);
  }

  /** Handles one whole message at the start of what was received; returns its length, 0 when incomplete. */
  #step(): number {
    const data = this.#received;
    switch (this.#stage) {
      case 'version': {
        if (data.length < 12) return 0;
        const version = data.subarray(0, 12).toString('latin1');
        if (version !== RFB_VERSION) return this.#refuse(`The viewer speaks ${JSON.stringify(version.trim())}; this screen speaks RFB 3.8`);
        this.#stage = 'security';
        this.#send(Buffer.from([1, SECURITY_NONE]));
        return 12;
      }
      case 'security': {
        if (data.length < 1) return 0;
        if (data[0] !== SECURITY_NONE) return this.#refuse(`The viewer chose security type ${data[0]}; this screen offers None (1) only`);
        this.#stage = 'init';
        this.#send(Buffer.alloc(4)); // SecurityResult: OK
        return 1;
      }
      case 'init': {
        if (data.length < 1) return 0;
        this.#stage = 'normal';
        const name = Buffer.from(this.#screen.name, 'utf8');
        const header = Buffer.alloc(4);
        header.writeUInt16BE(this.#screen.width, 0);
        header.writeUInt16BE(this.#screen.height, 2);
        const length = Buffer.alloc(4);
        length.writeUInt32BE(name.length, 0);
        this.#send(Buffer.concat([header, encodeFormat(SERVER_FORMAT), length, name]));
        return 1;
      }
      case 'normal':
        return this.#message(data);
      case 'failed':
        return 0;
    }
  }

  #message(data: Buffer): number {
    if (data.length < 1) return 0;
    switch (data[0]) {
      case 0: {
        // SetPixelFormat
        if (data.length < 20) return 0;
        const format = decodeFormat(data.subarray(4, 20));
        if (format.bitsPerPixel !== 32 || !format.trueColour) return this.#refuse('This screen sends 32-bit true colour only');
        this.#format = format;
        return 20;
      }
      case 2: {
        // SetEncodings: Raw is always allowed, so the list changes nothing here.
        if (data.length < 4) return 0;
        const length = 4 + 4 * data.readUInt16BE(2);
        return data.length < length ? 0 : length;
      }
      case 3: {
        // FramebufferUpdateRequest
        if (data.length < 10) return 0;
        const rect = { x: data.readUInt16BE(2), y: data.readUInt16BE(4), width: data.readUInt16BE(6), height: data.readUInt16BE(8) };
        if (data[1] === 0) this.#update(rect, this.#screen.pixels());
        else {
          this.#waiting = rect;
          this.refresh();
        }
        return 10;
      }
      case 4: // KeyEvent: the simulated screen does not react to keys
        return data.length < 8 ? 0 : 8;
      case 5: // PointerEvent
        return data.length < 6 ? 0 : 6;
      case 6: {
        // ClientCutText
        if (data.length < 8) return 0;
        const length = Math.abs(data.readInt32BE(4));
        if (length > MAX_CUT_TEXT_BYTES) return this.#refuse('The viewer sent more than 1 MiB of clipboard');
        return data.length < 8 + length ? 0 : 8 + length;
      }
      default:
        return this.#refuse(`The viewer sent RFB message type ${data[0]}, which this screen does not speak`);
    }
  }

  #refuse(reason: string): number {
    this.#stage = 'failed';
    this.#fail(reason);
    return 0;
  }

  /** One FramebufferUpdate with one Raw rectangle: `rect`, clipped to the screen. */
  #update(requested: Rect, pixels: Uint32Array) {
    const { width, height } = this.#screen;
    const x = Math.min(requested.x, width);
    const y = Math.min(requested.y, height);
    const w = Math.min(requested.width, width - x);
    const h = Math.min(requested.height, height - y);
    const message = Buffer.alloc(16 + w * h * 4);
    message.writeUInt8(0, 0); // FramebufferUpdate
    message.writeUInt16BE(1, 2); // one rectangle
    message.writeUInt16BE(x, 4);
    message.writeUInt16BE(y, 6);
    message.writeUInt16BE(w, 8);
    message.writeUInt16BE(h, 10);
    message.writeInt32BE(ENCODING_RAW, 12);
    const f = this.#format;
    let at = 16;
    for (let row = y; row < y + h; row++) {
      for (let column = x; column < x + w; column++) {
        const rgb = pixels[row * width + column] ?? 0;
        const value =
          ((Math.round((((rgb >> 16) & 0xff) * f.redMax) / 255) << f.redShift) |
            (Math.round((((rgb >> 8) & 0xff) * f.greenMax) / 255) << f.greenShift) |
            (Math.round(((rgb & 0xff) * f.blueMax) / 255) << f.blueShift)) >>>
          0;
        if (f.bigEndian) message.writeUInt32BE(value, at);
        else message.writeUInt32LE(value, at);
        at += 4;
      }
    }
    this.#shown = pixels;
    this.#send(message);
  }
}
