import { chmodSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { dirname, join } from 'node:path';
import { CliError, EXIT, UsageError } from './exit-codes.ts';

/** What `passthru login` keeps between runs. */
export interface StoredConfig {
  server?: string;
  token?: string;
  /** The global ID of a token login minted, so logout can revoke it. */
  tokenId?: string;
}

export const DEFAULT_SERVER = 'http://localhost:4000';

/** $PASSTHRU_CONFIG, else $XDG_CONFIG_HOME/passthru/config.json, else ~/.config/passthru/config.json. */
export function configPath(env: NodeJS.ProcessEnv): string {
  if (env.PASSTHRU_CONFIG) return env.PASSTHRU_CONFIG;
  const base = env.XDG_CONFIG_HOME || join(env.HOME || homedir(), '.config');
  return join(base, 'passthru', 'config.json');
}

function isStoredConfig(value: unknown): value is StoredConfig {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return false;
  return Object.entries(value).every(([key, field]) => !['server', 'token', 'tokenId'].includes(key) || typeof field === 'string');
}

export function readConfig(path: string): StoredConfig {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (error) {
    if (error instanceof Error && 'code' in error && error.code === 'ENOENT') return {};
    throw new CliError(`cannot read ${path}: ${error instanceof Error ? error.message : String(error)}`, EXIT.failed);
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    throw new UsageError(`${path} is not JSON; fix it or remove it and run passthru login again`);
  }
  if (!isStoredConfig(parsed)) throw new UsageError(`${path} must hold an object with string "server" and "token"; run passthru login again`);
  return parsed;
}

/** Writes the config readable by its owner only (it holds a bearer token), replacing it whole. */
export function writeConfig(path: string, config: StoredConfig): void {
  mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
  const temporary = `${path}.${process.pid}.tmp`;
  writeFileSync(temporary, `${JSON.stringify(config, null, 2)}\n`, { mode: 0o600 });
  // An existing file keeps its mode through writeFileSync; the new one is made 0600 regardless.
  chmodSync(temporary, 0o600);
  renameSync(temporary, path);
}

/** Where to connect and with what: flags over the environment over the config file. */
export interface Connection {
  server: string;
  token: string | null;
}

export function resolveConnection(flags: { server?: string }, env: NodeJS.ProcessEnv, stored: StoredConfig): Connection {
  const server = flags.server || env.PASSTHRU_SERVER || stored.server || DEFAULT_SERVER;
  try {
    const url = new URL(server);
    if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new UsageError(`--server must be an http(s):// URL, got ${url.protocol}`);
  } catch (error) {
    if (error instanceof UsageError) throw error;
    throw new UsageError(`--server "${server}" is not a URL; write it like https://passthru.example.com`);
  }
  const normalized = server.replace(/\/+$/, '');
  // The stored token goes only to the server it was made for, never to one named by --server.
  const storedToken = !stored.server || stored.server === normalized ? stored.token : undefined;
  return { server: normalized, token: env.PASSTHRU_TOKEN?.trim() || storedToken || null };
}
