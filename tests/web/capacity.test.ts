import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Browser, Page } from 'playwright-core';
import { Seed } from '../support/seed.ts';
import { ADMIN, startTestServer, type TestServer } from '../support/server.ts';
import { SKIP_REASON, hasChromium, launchChromium, openPage, pageErrors, signIn } from './support/browser.ts';

if (!hasChromium) console.warn(SKIP_REASON);

/**
 * What the console says when a plan cannot fit: the provision page shows which resource each
 * host is short of and the refusal names it; the plans page shows a plan's warning about a GPU
 * model no host has reported.
 */
describe.skipIf(!hasChromium)('the console on capacity and plan warnings', () => {
  let server: TestServer;
  let browser: Browser;
  let page: Page;

  beforeAll(async () => {
    server = await startTestServer();
    const seed = new Seed(server.client, server.url);
    const cluster = await seed.cluster('small-cluster');
    const { agent } = await cluster.host({ name: 'small-host', gpus: 1, facts: { cpuCores: 16, memoryMb: 64 * 1024 } });
    agent.respond = () => 'hold';
    await seed.plan({ name: 'huge', cores: 1024, memoryMb: 4 * 1024 * 1024, diskGb: 100, gpuCount: 0 });
    await seed.plan({ name: 'h100-plan', cores: 8, memoryMb: 32 * 1024, diskGb: 100, gpuCount: 1, gpuVendorId: '10de', gpuProductId: '2330' });
    browser = await launchChromium();
    page = await openPage(browser, `${server.url}/`);
    await signIn(page, ADMIN);
  });

  afterAll(async () => {
    await browser?.close();
    await server?.stop();
  });

  it('the provision page shows the cores and memory a host is short of, and the refusal names them', async () => {
    await page.getByRole('navigation', { name: 'Primary' }).getByRole('link', { name: 'Virtual machines' }).click();
    await page.getByRole('link', { name: 'Provision VM' }).first().click();
    await page.getByLabel('Name').fill('too-big');
    await page.getByLabel('Service plan').selectOption({ label: 'huge — KVM, 1024 vCPU, 4 TiB' });
    const verdict = page.locator('[data-testid="capacity"] [data-fits="false"]');
    await verdict.getByText('Short of cores and memory').waitFor();
    const row = page.locator('[data-testid="capacity"] tr[data-short]', { hasText: 'small-host' });
    expect(await row.getAttribute('data-short')).toBe('CORES MEMORY');
    expect(await row.innerText()).toMatch(/small-host\s+1\s+64\s+64 GiB/);

    await page.getByRole('button', { name: 'Provision VM' }).click();
    await page.getByRole('alert').getByText(/small-host is short of cores \(64 free, 1024 needed\) and memory/).waitFor();
    expect(pageErrors(page)).toEqual([]);
  });

  it('the plans page and the plan form show a warning for a GPU model no host has reported', async () => {
    await page.getByRole('navigation', { name: 'Primary' }).getByRole('link', { name: 'Plans' }).click();
    const row = page.getByRole('row', { name: /h100-plan/ });
    await row.getByText('no host has this model').waitFor();
    expect(await page.getByRole('row', { name: /huge/ }).innerText()).not.toContain('no host has this model');

    await row.getByRole('button', { name: 'Edit h100-plan' }).click();
    const dialog = page.getByRole('dialog', { name: 'Edit Service Plan' });
    await dialog.getByRole('status').getByText(/No host has reported a GPU 10de:2330/).waitFor();
    // Saved with the warning still true, the dialog stays open on it: the plan is saved regardless.
    await dialog.getByLabel('Cores').fill('10');
    await dialog.getByRole('button', { name: 'Save changes' }).click();
    await row.locator('td.num').first().getByText('10', { exact: true }).waitFor();
    expect(await dialog.getByRole('status').innerText()).toMatch(/No host has reported a GPU 10de:2330/);
    expect(await dialog.isVisible()).toBe(true);
    expect(pageErrors(page)).toEqual([]);
  });
});
