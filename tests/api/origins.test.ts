import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { WebSocket } from 'ws';
import { loadConfig } from '../../server/config.ts';
import { ADMIN, sessionClient, startTestServer, type TestServer } from '../support/server.ts';

// The session cookie is usable only from the server's own pages and the origins configured in
// PASSTHRU_ALLOWED_ORIGINS; every response carries the security headers (issue 10, finding 2).

const EVIL = 'https://evil.example';
const DASHBOARD = 'http://dashboard.test:8080';

describe('origins and security headers', () => {
  let server: TestServer;
  let cookie: string;
  beforeAll(async () => {
    // A console of its own, so the test does not depend on a built web/dist.
    const webDir = mkdtempSync(join(tmpdir(), 'passthru-console-'));
    writeFileSync(join(webDir, 'index.html'), '<!doctype html><title>Passthru</title>');
    server = await startTestServer({ config: { allowedOrigins: [DASHBOARD], webDir } });
    cookie = (await sessionClient(server.url, ADMIN)).cookie!;
  });
  afterAll(() => server.stop());

  const preflight = (origin: string) =>
    fetch(`${server.url}/graphql`, {
      method: 'OPTIONS',
      headers: { origin, 'access-control-request-method': 'POST', 'access-control-request-headers': 'content-type' },
    });

  it('never allows another origin with credentials unless it is configured', async () => {
    const evil = await preflight(EVIL);
    expect(evil.headers.get('access-control-allow-origin')).toBeNull();
    expect(evil.headers.get('access-control-allow-credentials')).toBeNull();
    const answered = await fetch(`${server.url}/graphql`, {
      method: 'POST',
      headers: { origin: EVIL, cookie, 'content-type': 'application/json' },
      body: JSON.stringify({ query: '{ me { username } }' }),
    });
    expect(answered.headers.get('access-control-allow-origin')).toBeNull();

    const dashboard = await preflight(DASHBOARD);
    expect(dashboard.headers.get('access-control-allow-origin')).toBe(DASHBOARD);
    expect(dashboard.headers.get('access-control-allow-credentials')).toBe('true');
  });

  /** Opens a graphql-ws socket; resolves with 'open' or the HTTP status it was refused with. */
  const openSocket = (headers: Record<string, string>) =>
    new Promise<string>((resolve) => {
      const socket = new WebSocket(`${server.url.replace('http', 'ws')}/graphql`, 'graphql-transport-ws', { headers });
      socket.on('open', () => {
        socket.close();
        resolve('open');
      });
      socket.on('unexpected-response', (_request, response) => resolve(String(response.statusCode)));
      socket.on('error', () => {});
    });

  it("refuses a socket carrying the session cookie from another origin's page", async () => {
    const own = new URL(server.url).origin;
    expect(await openSocket({ cookie, origin: EVIL })).toBe('401');
    expect(await openSocket({ cookie, origin: own })).toBe('open');
    expect(await openSocket({ cookie, origin: DASHBOARD })).toBe('open');
    // No cookie, no ambient authority: automation and agents authenticate in connection_init.
    expect(await openSocket({ origin: EVIL })).toBe('open');
  });

  it('sends the security headers with the console and the API', async () => {
    for (const path of ['/', '/graphql?query=%7B__typename%7D']) {
      const response = await fetch(`${server.url}${path}`);
      expect(response.headers.get('content-security-policy'), path).toMatch(/frame-ancestors 'none'/);
      expect(response.headers.get('x-frame-options'), path).toBe('DENY');
      expect(response.headers.get('x-content-type-options'), path).toBe('nosniff');
      expect(response.headers.get('referrer-policy'), path).toBe('no-referrer');
      // Plain HTTP here: no HSTS.
      expect(response.headers.get('strict-transport-security'), path).toBeNull();
    }
    const page = await fetch(`${server.url}/`);
    expect(await page.text()).toMatch(/<title>Passthru/);
    expect(page.headers.get('content-security-policy')).toMatch(/script-src 'self'/);
  });

  it('sends HSTS when cookies are Secure (served over HTTPS)', async () => {
    const secure = await startTestServer({ config: { secureCookies: true } });
    try {
      const response = await fetch(`${secure.url}/graphql?query=%7B__typename%7D`);
      expect(response.headers.get('strict-transport-security')).toMatch(/max-age=\d+/);
    } finally {
      await secure.stop();
    }
  });

  it('PASSTHRU_ALLOWED_ORIGINS takes origins only, and says so', () => {
    expect(loadConfig({ PASSTHRU_ALLOWED_ORIGINS: ' https://a.example, http://b.example:8080 ' }).allowedOrigins).toEqual(['https://a.example', 'http://b.example:8080']);
    expect(() => loadConfig({ PASSTHRU_ALLOWED_ORIGINS: 'https://a.example/console' })).toThrow(/origins such as https:\/\/dashboard\.example\.com/);
  });
});
