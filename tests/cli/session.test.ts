import { statSync, readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EXIT } from '../../cli/exit-codes.ts';
import { ADMIN, startTestServer, type TestServer } from '../support/server.ts';
import { passthru, tempHome } from './support.ts';

let server: TestServer;
const home = tempHome();

beforeAll(async () => {
  server = await startTestServer();
});
afterAll(async () => {
  await server?.stop();
  home.remove();
});

describe('passthru login', () => {
  it('signs in with a password, keeps an API token in a config file only its owner can read, and later commands use it', async () => {
    const env = { XDG_CONFIG_HOME: home.path };
    const login = await passthru(['login', '--server', server.url, '--username', ADMIN.username, '--password-stdin', '--json'], env, `${ADMIN.password}\n`);
    expect(login.stderr).toBe('');
    expect(login.code).toBe(EXIT.ok);
    expect(JSON.parse(login.stdout)).toEqual({ server: server.url, username: 'admin', role: 'ADMIN', configFile: home.configFile });

    expect(statSync(home.configFile).mode & 0o777).toBe(0o600);
    const stored = JSON.parse(readFileSync(home.configFile, 'utf8'));
    expect(stored).toMatchObject({ server: server.url, token: expect.any(String), tokenId: expect.any(String) });

    // No --server and no PASSTHRU_TOKEN: both come from the config file.
    const whoami = await passthru(['whoami', '--json'], env);
    expect(whoami.code).toBe(EXIT.ok);
    expect(JSON.parse(whoami.stdout)).toMatchObject({ server: server.url, username: 'admin', role: 'ADMIN' });

    const logout = await passthru(['logout'], env);
    expect(logout.code).toBe(EXIT.ok);
    expect(logout.stdout).toContain('the token is revoked');
    const afterLogout = await passthru(['whoami'], { ...env, PASSTHRU_TOKEN: stored.token });
    expect(afterLogout.code).toBe(EXIT.auth);
  });

  it('a wrong password exits with the auth status and stores nothing', async () => {
    const fresh = tempHome();
    try {
      const login = await passthru(['login', '--server', server.url, '--username', ADMIN.username, '--password-stdin'], { XDG_CONFIG_HOME: fresh.path }, 'not the password\n');
      expect(login.code).toBe(EXIT.auth);
      expect(login.stderr).toMatch(/^passthru: /);
      expect(() => statSync(fresh.configFile)).toThrow();
    } finally {
      fresh.remove();
    }
  });

  it('without a token a command exits with the auth status and says how to log in', async () => {
    const fresh = tempHome();
    try {
      const hosts = await passthru(['hosts', '--server', server.url], { XDG_CONFIG_HOME: fresh.path });
      expect(hosts.code).toBe(EXIT.auth);
      expect(hosts.stderr).toContain('run passthru login, or set PASSTHRU_TOKEN');
    } finally {
      fresh.remove();
    }
  });

  it('login --token-stdin stores a token it has checked with the server, and refuses one the server does not accept', async () => {
    const fresh = tempHome();
    try {
      const env = { XDG_CONFIG_HOME: fresh.path };
      const refused = await passthru(['login', '--server', server.url, '--token-stdin'], env, 'pth_not_a_token');
      expect(refused.code).toBe(EXIT.auth);
      expect(() => statSync(fresh.configFile)).toThrow();
      const accepted = await passthru(['login', '--server', server.url, '--token-stdin'], env, server.client.token!);
      expect(accepted.code).toBe(EXIT.ok);
      expect(JSON.parse(readFileSync(fresh.configFile, 'utf8'))).toEqual({ server: server.url, token: server.client.token });
    } finally {
      fresh.remove();
    }
  });

  it('sends the stored token only to the server it was stored for', async () => {
    const env = { XDG_CONFIG_HOME: home.path };
    const login = await passthru(['login', '--server', server.url, '--token-stdin'], env, server.client.token!);
    expect(login.code).toBe(EXIT.ok);
    const elsewhere = await passthru(['hosts', '--server', 'http://127.0.0.1:9'], env);
    expect(elsewhere.code).toBe(EXIT.auth);
  });
});
