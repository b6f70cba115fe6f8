import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Browser, Page } from 'playwright-core';
import { graphql } from '../../protocol/graphql.ts';
import { ADMIN, startTestServer, type TestServer } from '../support/server.ts';
import { SKIP_REASON, hasChromium, launchChromium, openPage, screenshot, signIn } from './support/browser.ts';

if (!hasChromium) console.warn(SKIP_REASON);

const EveryApiToken = graphql(`
  query EveryApiToken { apiTokens(all: true) { name } }
`);

/**
 * A page of another origin on the same host (another port: the same site, so the SameSite=Strict
 * session cookie goes along) tries what the break-in did: frame the console, mint an ADMIN token
 * with the signed-in admin's cookie, and open a socket with it. The browser refuses all three.
 */
function foreignPage(api: string) {
  return `<!doctype html><title>elsewhere</title>
<iframe id="framed" src="${api}/" width="400" height="300"></iframe>
<pre id="results"></pre>
<script>
const results = {};
const report = () => (document.getElementById('results').textContent = JSON.stringify(results));
fetch('${api}/graphql', {
  method: 'POST',
  credentials: 'include',
  headers: { 'content-type': 'application/json' },
  body: JSON.stringify({ query: 'mutation { createApiToken(input: { name: "stolen", role: ADMIN }) { __typename ... on CreateApiTokenSuccess { token } } }' }),
})
  .then(async (response) => (results.fetch = 'read: ' + (await response.text())))
  .catch((error) => (results.fetch = 'refused: ' + error.name))
  .finally(report);
const socket = new WebSocket('${api.replace('http', 'ws')}/graphql', 'graphql-transport-ws');
socket.onopen = () => { results.socket = 'open'; report(); };
socket.onerror = () => { results.socket = 'refused'; report(); };
</script>`;
}

describe.skipIf(!hasChromium)('a page of another origin', () => {
  let server: TestServer;
  let elsewhere: Server;
  let elsewhereUrl: string;
  let browser: Browser;
  let page: Page;

  beforeAll(async () => {
    server = await startTestServer();
    elsewhere = createServer((_req, res) => {
      res.writeHead(200, { 'content-type': 'text/html' });
      res.end(foreignPage(server.url));
    });
    await new Promise<void>((resolve) => elsewhere.listen(0, '127.0.0.1', resolve));
    elsewhereUrl = `http://127.0.0.1:${(elsewhere.address() as AddressInfo).port}/`;
    browser = await launchChromium();
    page = await openPage(browser, `${server.url}/`);
    await signIn(page, ADMIN);
  });

  afterAll(async () => {
    await browser?.close();
    await new Promise((resolve) => elsewhere?.close(resolve));
    await server?.stop();
  });

  it("cannot frame the console, nor use the signed-in admin's session over HTTP or a socket", async () => {
    const before = (await server.client.data(EveryApiToken)).apiTokens.length;
    await page.goto(elsewhereUrl);
    await page.waitForFunction(() => {
      const text = document.getElementById('results')?.textContent;
      return text ? 'fetch' in JSON.parse(text) && 'socket' in JSON.parse(text) : false;
    });
    const results = JSON.parse((await page.locator('#results').textContent()) ?? '{}');
    expect(results).toEqual({ fetch: 'refused: TypeError', socket: 'refused' });
    // The framed console never rendered: Chromium shows its own error page in the frame instead.
    const framed = page.frames().find((frame) => frame !== page.mainFrame());
    expect(await framed?.locator('text=Sign in').count()).toBe(0);
    expect(await framed?.locator('nav[aria-label="Primary"]').count()).toBe(0);
    await screenshot(page, 'cross-origin-refused');
    expect((await server.client.data(EveryApiToken)).apiTokens).toHaveLength(before);
  });
});
