import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Browser, Page } from 'playwright-core';
import { ADMIN, signedInClient, startTestServer, type TestServer } from '../support/server.ts';
import { SKIP_REASON, hasChromium, launchChromium, markDocument, openPage, pageErrors, screenshot, signIn, stillSameDocument } from './support/browser.ts';
import { CreateUser } from './support/users.ts';

if (!hasChromium) console.warn(SKIP_REASON);

const VIEWER = { username: 'viewer1', password: 'a long viewer password' };

/**
 * The security pages of the console: an admin makes and revokes an API token, adds a viewer and
 * enrolls a host through the UI, while a second admin page watches the audit trail fill in live;
 * the viewer is not offered the admin pages.
 */
describe.skipIf(!hasChromium)('the console’s administration pages', () => {
  let server: TestServer;
  let browser: Browser;
  let a: Page;
  let audit: Page;

  beforeAll(async () => {
    server = await startTestServer();
    browser = await launchChromium();
    a = await openPage(browser, `${server.url}/`);
    await signIn(a, ADMIN);
    // A second admin watches the audit trail, never reloading.
    audit = await openPage(browser, `${server.url}/activity/audit`);
    await signIn(audit, ADMIN);
    await audit.getByRole('link', { name: 'Audit trail' }).waitFor();
    await markDocument(audit);
  });

  afterAll(async () => {
    await browser?.close();
    await server?.stop();
  });

  const auditRow = (action: string) => audit.locator(`tr[data-action="${action}"]`);

  it('creates an API token, shows its secret once, and revokes it', async () => {
    await a.getByRole('navigation', { name: 'Primary' }).getByRole('link', { name: 'API tokens' }).click();
    await a.getByRole('heading', { name: 'API tokens' }).waitFor();
    // The test server's own API client already holds one.
    await a.locator('tr[data-state]').first().waitFor();

    await a.getByRole('button', { name: 'New token' }).click();
    const dialog = a.getByRole('dialog', { name: 'New API token' });
    await dialog.waitFor();
    // An admin may hand out any role up to admin.
    expect(await dialog.getByLabel('Role').locator('option').allInnerTexts()).toEqual(['Viewer', 'Operator', 'Admin']);
    await dialog.getByLabel('Name').fill('ci-bot');
    await dialog.getByLabel('Role').selectOption('OPERATOR');
    await dialog.getByRole('button', { name: 'Create token' }).click();

    const shown = a.getByRole('dialog', { name: 'Token ci-bot created' });
    await shown.waitFor();
    const secret = (await shown.locator('[data-secret]').innerText()).trim();
    expect(secret.length).toBeGreaterThan(20);
    expect(await shown.getByRole('note').innerText()).toMatch(/shown only once/);
    expect(await shown.getByRole('button', { name: 'Copy API token' }).isVisible()).toBe(true);
    // The secret works as a bearer token.
    const me = await fetch(`${server.url}/graphql`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${secret}` },
      body: JSON.stringify({ query: '{ me { username } }' }),
    });
    expect(((await me.json()) as { data: { me: { username: string } } }).data.me.username).toBe('admin');
    await shown.getByRole('button', { name: 'Done' }).click();
    await shown.waitFor({ state: 'detached' });

    // The list has it, and the secret is gone for good.
    const row = a.locator('tr[data-state]').filter({ hasText: 'ci-bot' });
    await row.waitFor();
    expect(await row.getAttribute('data-state')).toBe('active');
    expect(await row.innerText()).toContain('Operator');
    expect(await a.content()).not.toContain(secret);

    await row.getByRole('button', { name: 'Revoke ci-bot' }).click();
    const confirm = a.getByRole('dialog', { name: 'Revoke token ci-bot?' });
    await confirm.getByRole('button', { name: 'Revoke token' }).click();
    await confirm.waitFor({ state: 'detached' });
    await a.locator('tr[data-state="revoked"]').filter({ hasText: 'ci-bot' }).waitFor();
    expect(await row.getByRole('button', { name: 'Revoke ci-bot' }).count()).toBe(0);
  });

  it('adds a viewer; a refused call shows its error in the dialog', async () => {
    await a.getByRole('navigation', { name: 'Primary' }).getByRole('link', { name: 'Users' }).click();
    await a.getByRole('heading', { name: 'Users' }).waitFor();
    await a.getByRole('button', { name: 'Add user' }).click();
    const dialog = a.getByRole('dialog', { name: 'Add user' });
    await dialog.getByLabel('Username').fill(VIEWER.username);
    await dialog.getByLabel('Password').fill('short');
    await dialog.getByRole('button', { name: 'Add user' }).click();
    await dialog.getByText('At least 12 characters.').waitFor();
    await dialog.getByLabel('Password').fill(VIEWER.password);
    // The name is taken: the server's typed error shows beside the button, the dialog stays.
    await dialog.getByLabel('Username').fill('admin');
    await dialog.getByRole('button', { name: 'Add user' }).click();
    await dialog.getByRole('alert').waitFor();
    await dialog.getByLabel('Username').fill(VIEWER.username);
    await dialog.getByLabel('Role').selectOption('VIEWER');
    await dialog.getByRole('button', { name: 'Add user' }).click();
    await dialog.waitFor({ state: 'detached' });
    const row = a.locator(`tr[data-username="${VIEWER.username}"]`);
    await row.waitFor();
    expect(await row.getByLabel(`Role of ${VIEWER.username}`).inputValue()).toBe('VIEWER');
  });

  it('shows those calls in the audit trail live, as user:admin, with refusals in red', async () => {
    // A refused call, made by the viewer's own token through the API.
    const viewer = await signedInClient(server.url, VIEWER, 'VIEWER');
    const { createUser } = await viewer.data(CreateUser, { input: { username: 'mallory', password: 'a long enough password', role: 'ADMIN' } });
    expect(createUser.__typename).toBe('NotAuthorizedError');
    await viewer.close();

    for (const action of ['createApiToken', 'revokeApiToken', 'createUser']) {
      await auditRow(action).filter({ hasText: 'user:admin' }).first().waitFor();
    }
    const refused = audit.locator('tr[data-outcome="NotAuthorizedError"]');
    await refused.first().waitFor();
    expect(await refused.first().innerText()).toMatch(/token:viewer1\//);
    expect(await refused.first().locator('.badge').evaluate((el) => el.classList.contains('tone-danger'))).toBe(true);
    expect(await auditRow('createApiToken').first().locator('[data-outcome="OK"] .badge').innerText()).toBe('OK');
    expect(await stillSameDocument(audit)).toBe(true);

    // Details expand, secrets redacted.
    const tokenRow = auditRow('createApiToken').filter({ hasText: 'user:admin' }).first();
    await tokenRow.getByRole('button', { name: 'Details' }).click();
    const details = audit.getByLabel('Details of createApiToken');
    await details.waitFor();
    expect(await details.innerText()).toContain('"ci-bot"');
    // Rows that just arrived flash; the screenshot waits for them to settle.
    await audit.locator('tr.fresh').first().waitFor({ state: 'detached' });
    await screenshot(audit, 'activity-audit');

    // Filter by actor: only user:admin.
    await audit.getByLabel('Actor').fill('user:admin');
    await audit.getByLabel('Actor').press('Enter');
    await audit.locator('tr[data-outcome="NotAuthorizedError"]').waitFor({ state: 'detached' });
    expect(await auditRow('createUser').count()).toBeGreaterThan(0);
    // A time range in the past matches nothing.
    await audit.getByLabel('Time').selectOption('custom');
    await audit.getByLabel('Until').fill('2001-01-01T00:00');
    await audit.getByText('No entries match').waitFor();
    await audit.getByRole('button', { name: 'Clear filters' }).first().click();
    await refused.first().waitFor();
  });

  it('does not offer the Users page to a viewer', async () => {
    const v = await openPage(browser, `${server.url}/`);
    await signIn(v, VIEWER);
    const nav = v.getByRole('navigation', { name: 'Primary' });
    await nav.getByRole('link', { name: 'API tokens' }).waitFor();
    expect(await nav.getByRole('link', { name: 'Users' }).count()).toBe(0);
    // A viewer's token can only be a viewer's.
    await nav.getByRole('link', { name: 'API tokens' }).click();
    await v.getByRole('button', { name: 'New token' }).click();
    expect(await v.getByRole('dialog', { name: 'New API token' }).getByLabel('Role').locator('option').allInnerTexts()).toEqual(['Viewer']);
    await v.keyboard.press('Escape');
    await v.goto(`${server.url}/hosts`);
    await v.getByRole('heading', { name: 'Hosts' }).waitFor();
    expect(await v.getByRole('button', { name: 'Enroll host' }).count()).toBe(0);
    await v.goto(`${server.url}/admin/users`);
    await v.getByText('Only admins manage users').waitFor();
    expect(pageErrors(v)).toEqual([]);
    await v.context().close();
  });

  it('enrolls a host into a new cluster, shows its agent command once, and rotates its token', async () => {
    await a.getByRole('navigation', { name: 'Primary' }).getByRole('link', { name: 'Hosts' }).click();
    await a.getByText('No hosts enrolled').waitFor();
    await a.getByRole('button', { name: 'Enroll host' }).first().click();
    const dialog = a.getByRole('dialog', { name: 'Enroll host' });
    await dialog.waitFor();
    // No cluster yet: create one inline.
    await dialog.getByLabel('New cluster name').fill('lab');
    await dialog.getByRole('button', { name: 'Create cluster' }).click();
    await expect.poll(async () => dialog.getByLabel('Cluster', { exact: true }).locator('option:checked').innerText()).toBe('lab');
    await dialog.getByLabel('Host name').fill('kvm-new');
    await dialog.getByRole('button', { name: 'Enroll host' }).click();

    const shown = a.getByRole('dialog', { name: 'kvm-new enrolled' });
    await shown.waitFor();
    const command = (await shown.locator('[data-secret]').innerText()).trim();
    expect(command).toMatch(new RegExp(`^passthru-agent --server ${server.url.replace(/\./g, '\\.')} --token \\S+$`));
    expect(await shown.getByRole('note').innerText()).toMatch(/shown only once/);
    await shown.getByRole('button', { name: 'Done' }).click();
    await shown.waitFor({ state: 'detached' });
    const token = command.split(' --token ')[1]!;
    expect(await a.content()).not.toContain(token);

    await a.getByRole('link', { name: 'kvm-new' }).click();
    await a.getByRole('heading', { name: 'kvm-new' }).waitFor();
    await a.getByRole('button', { name: 'Rotate token' }).click();
    const rotate = a.getByRole('dialog', { name: /Rotate kvm-new/ });
    await rotate.getByRole('button', { name: 'Rotate token' }).click();
    const fresh = a.getByRole('dialog', { name: 'New token for kvm-new' });
    await fresh.waitFor();
    const rotated = (await fresh.locator('[data-secret]').innerText()).trim();
    expect(rotated).toContain('passthru-agent --server');
    expect(rotated).not.toContain(token);
    await a.keyboard.press('Escape');
    await fresh.waitFor({ state: 'detached' });
    expect(pageErrors(a)).toEqual([]);
    expect(pageErrors(audit)).toEqual([]);
  });
});
