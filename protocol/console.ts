// The console relay's wire format, defined once for the server, the agent and the browser.
//
// browser --/console/<VM ID>--> server --/agent/console--> agent --> guest (sim shell, or the
// libvirt domain's serial pty or VNC server). A serial session's browser socket carries raw
// terminal text both ways; a graphics session's carries RFB (VNC) bytes as binary frames, relayed
// unchanged (noVNC in the browser, QEMU's VNC server or the sim's on the host). The agent's one
// socket multiplexes every session on its host as JSON messages, bytes in base64.

/** Where an agent keeps its console socket open, authenticated with its host token. */
export const AGENT_CONSOLE_PATH = '/agent/console';

/** Where a browser opens a VM's console: this prefix, then the VM's global ID (and `?kind=graphics` for its screen). */
export const CONSOLE_PATH_PREFIX = '/console/';

/** What a session reaches: the guest's first serial port, or its screen over RFB (VNC). */
export const CONSOLE_KINDS = ['serial', 'graphics'] as const;
export type ConsoleKind = (typeof CONSOLE_KINDS)[number];

export function isConsoleKind(value: string): value is ConsoleKind {
  return CONSOLE_KINDS.some((kind) => kind === value);
}

/** Largest console frame a browser or the guest may send, in bytes (a paste, a burst of output). */
export const MAX_CONSOLE_FRAME_BYTES = 64 * 1024;

/** Largest message on the agent's socket: a console frame and its JSON envelope, escaped. */
export const MAX_AGENT_CONSOLE_MESSAGE_BYTES = 8 * MAX_CONSOLE_FRAME_BYTES;

/** Why a console socket was closed, as WebSocket close codes (4xxx mirror HTTP statuses). */
export const ConsoleClose = {
  /** The guest ended the session (`exit`) or the operator closed it. */
  ENDED: 1000,
  /** The agent or the guest side failed. */
  FAILED: 1011,
  UNAUTHENTICATED: 4401,
  /** A console kind other than serial or graphics. */
  BAD_REQUEST: 4400,
  /** Not an operator, or the credential was revoked, expired or signed out. */
  FORBIDDEN: 4403,
  /** No such VM. */
  NOT_FOUND: 4404,
  /** The VM is not running. */
  NOT_RUNNING: 4409,
  /** Over the credential's share of console sessions. */
  TOO_MANY: 4429,
  /** The VM's host agent is not connected. */
  AGENT_UNAVAILABLE: 4503,
} as const;

/** Bytes of a graphics session, either way: JSON carries them in base64. */
export interface Bytes {
  type: 'bytes';
  session: string;
  base64: string;
}

export type ServerToAgent =
  /** Start a session of `kind` on the domain named `vm` (a server from before graphics sends no kind: serial). */
  | { type: 'open'; session: string; vm: string; kind: ConsoleKind }
  /** Keystrokes for the guest (serial). */
  | { type: 'input'; session: string; data: string }
  /** RFB bytes from the browser (graphics). */
  | Bytes
  /** The browser went away: end the session. */
  | { type: 'close'; session: string };

export type AgentToServer =
  /** What the guest wrote (serial). */
  | { type: 'output'; session: string; data: string }
  /** RFB bytes from the guest's VNC server (graphics). */
  | Bytes
  /** The session ended on the host's side (guest exit, domain gone, an error), with why. */
  | { type: 'closed'; session: string; reason: string };

function fields(text: string): Record<string, unknown> | null {
  try {
    const value: unknown = JSON.parse(text);
    return typeof value === 'object' && value !== null && !Array.isArray(value) ? { ...value } : null;
  } catch {
    return null;
  }
}

/** A message from the server, or null when it is not one this agent understands. */
export function parseServerMessage(text: string): ServerToAgent | null {
  const m = fields(text);
  if (!m || typeof m.session !== 'string') return null;
  if (m.type === 'open' && typeof m.vm === 'string') {
    const kind = m.kind ?? 'serial';
    return typeof kind === 'string' && isConsoleKind(kind) ? { type: 'open', session: m.session, vm: m.vm, kind } : null;
  }
  if (m.type === 'input' && typeof m.data === 'string') return { type: 'input', session: m.session, data: m.data };
  if (m.type === 'bytes' && typeof m.base64 === 'string') return { type: 'bytes', session: m.session, base64: m.base64 };
  if (m.type === 'close') return { type: 'close', session: m.session };
  return null;
}

/** A message from an agent, or null when it is malformed. */
export function parseAgentMessage(text: string): AgentToServer | null {
  const m = fields(text);
  if (!m || typeof m.session !== 'string') return null;
  if (m.type === 'output' && typeof m.data === 'string') return { type: 'output', session: m.session, data: m.data };
  if (m.type === 'bytes' && typeof m.base64 === 'string') return { type: 'bytes', session: m.session, base64: m.base64 };
  if (m.type === 'closed' && typeof m.reason === 'string') return { type: 'closed', session: m.session, reason: m.reason };
  return null;
}
