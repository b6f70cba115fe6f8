import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Browser, Page } from 'playwright-core';
import { provisionVm, vm } from '../agent/support.ts';
import type { FakeDevice, TestAgent } from '../support/agent.ts';
import { eventually } from '../support/client.ts';
import { Seed } from '../support/seed.ts';
import { ADMIN, startTestServer, type TestServer } from '../support/server.ts';
import { SKIP_REASON, deviceRow, hasChromium, launchChromium, openPage, pageErrors, screenshot, signIn, waitForStatus } from './support/browser.ts';

if (!hasChromium) console.warn(SKIP_REASON);

// The console offers what the server says is possible (Device.actions): an impossible action is
// shown disabled with the server's reason, and a move that takes IOMMU group-mates along shows
// them before EXECUTE.

const ROOT_DISK = "nvme0n1p2 is mounted at /; refusing to detach the host's root disk";
const HARDWARE: FakeDevice[] = [
  { kind: 'GPU', address: '0000:47:00.0', vendorId: '10de', productId: '2204', productName: 'GA102 [GeForce RTX 3090]', iommuGroup: 21, numaNode: 0, driver: 'nvidia' },
  { kind: 'PCI', address: '0000:47:00.1', vendorId: '10de', productId: '1aef', productName: 'GA102 High Definition Audio Controller', iommuGroup: 21, numaNode: 0, driver: 'snd_hda_intel' },
  { kind: 'NVME', address: '0000:01:00.0', vendorId: '144d', productId: 'a80a', serial: 'S5GX-ROOT', iommuGroup: 7, driver: 'nvme', inUse: ROOT_DISK },
];

/** Opens a row's ACTIONS menu and returns the item for `action`. */
async function menuItem(page: Page, address: string, action: string) {
  await page.getByRole('button', { name: `Actions for ${address}` }).click();
  return page.getByRole('menu').getByRole('menuitem', { name: action });
}

/** The text the item's aria-describedby points at: the reason it is disabled. */
async function hintOf(page: Page, item: ReturnType<Page['getByRole']>) {
  const id = await item.getAttribute('aria-describedby');
  return id ? page.locator(`[id="${id}"]`).innerText() : null;
}

describe.skipIf(!hasChromium)('device actions in the console', () => {
  let server: TestServer;
  let browser: Browser;
  let page: Page;
  let agent: TestAgent;
  let heartbeats: ReturnType<typeof setInterval> | null = null;

  beforeAll(async () => {
    // A host whose agent stops heartbeating goes OFFLINE within seconds (the last test).
    server = await startTestServer({ config: { heartbeatTimeoutMs: 4_000, sweepIntervalMs: 500, heartbeatFlushIntervalMs: 500 } });
    const seed = new Seed(server.client, server.url);
    const cluster = await seed.cluster('lab');
    const host = await cluster.host({ name: 'kvm-g', devices: HARDWARE });
    agent = host.agent;
    agent.respond = (operation) => {
      setTimeout(() => void agent.complete(operation.id, true).catch(() => {}), 300);
      return 'hold';
    };
    heartbeats = setInterval(() => void agent.heartbeat().catch(() => {}), 1_000);
    const { id: planId } = await seed.plan({ name: 'cpu-small', cores: 2, memoryMb: 4096, diskGb: 20, gpuCount: 0 });
    const { vmId } = await provisionVm(server.client, { name: 'vm-gpu', planId, hostId: host.id });
    await eventually(async () => (await vm(server.client, vmId))?.status === 'RUNNING');
    browser = await launchChromium();
    page = await openPage(browser, `${server.url}/hosts/${encodeURIComponent(host.id)}/devices`);
    await signIn(page, ADMIN);
    await page.getByRole('heading', { name: 'kvm-g' }).waitFor();
  });

  afterAll(async () => {
    if (heartbeats) clearInterval(heartbeats);
    await browser?.close();
    await agent?.disconnect();
    await server?.stop();
  });

  it('shows detach of a device the host uses disabled, with what holds it, and never sends it', async () => {
    const detach = await menuItem(page, '0000:01:00.0', 'Detach device');
    expect(await detach.getAttribute('aria-disabled')).toBe('true');
    expect(await hintOf(page, detach)).toBe(`NVME 0000:01:00.0 is in use by the host: ${ROOT_DISK}; free it on the host first`);
    await screenshot(page, 'device-action-disabled');
    await detach.click({ force: true });
    // Nothing ran: the menu stays open on the disabled item and the drive stays attached.
    await waitForStatus(page, '0000:01:00.0', 'ATTACHED');
    expect(await deviceRow(page, '0000:01:00.0').locator('.device-status').getAttribute('data-status')).toBe('ATTACHED');
    await page.keyboard.press('Escape');
  });

  it('previews the GPU audio function a detach and an assign move with the GPU, before EXECUTE', async () => {
    await (await menuItem(page, '0000:47:00.0', 'Detach device')).click();
    const detach = page.getByRole('dialog', { name: 'Detach device' });
    await detach.waitFor();
    const moves = detach.getByRole('region', { name: 'Also moves' });
    expect(await moves.locator('li').evaluateAll((items) => items.map((item) => item.getAttribute('data-address')))).toEqual(['0000:47:00.1']);
    expect(await moves.innerText()).toContain('GA102 High Definition Audio Controller');
    // Nothing moves before EXECUTE.
    expect(await deviceRow(page, '0000:47:00.0').locator('.device-status').getAttribute('data-status')).toBe('ATTACHED');
    await detach.getByRole('button', { name: 'Execute' }).click();
    await waitForStatus(page, '0000:47:00.0', 'DETACHED');
    await waitForStatus(page, '0000:47:00.1', 'DETACHED');

    await (await menuItem(page, '0000:47:00.1', 'Assign device')).click();
    const assign = page.getByRole('dialog', { name: 'Assign device' });
    await assign.waitFor();
    expect(await assign.getByRole('region', { name: 'Also moves' }).locator('li').evaluateAll((items) => items.map((item) => item.getAttribute('data-address')))).toEqual([
      '0000:47:00.0',
    ]);
    await assign.getByRole('radio', { name: /vm-gpu/ }).check();
    await screenshot(page, 'assign-group-preview');
    await assign.getByRole('button', { name: 'Execute' }).click();
    await assign.waitFor({ state: 'detached' });
    await waitForStatus(page, '0000:47:00.0', 'ASSIGNED');
    await waitForStatus(page, '0000:47:00.1', 'ASSIGNED');
    expect(await deviceRow(page, '0000:47:00.0').getByRole('link', { name: 'vm-gpu' }).count()).toBe(1);
    expect(pageErrors(page)).toEqual([]);
  });

  it('previews the group a release takes back from the VM, and releases it whole', async () => {
    await (await menuItem(page, '0000:47:00.0', 'Release')).click();
    const release = page.getByRole('dialog', { name: 'Release' });
    expect(await release.getByRole('region', { name: 'Also moves' }).locator('li').evaluateAll((items) => items.map((item) => item.getAttribute('data-address')))).toEqual([
      '0000:47:00.1',
    ]);
    await release.getByRole('button', { name: 'Execute' }).click();
    await waitForStatus(page, '0000:47:00.0', 'DETACHED');
    await waitForStatus(page, '0000:47:00.1', 'DETACHED');
  });

  it('disables every action of a device once its host goes OFFLINE, saying why', async () => {
    if (heartbeats) clearInterval(heartbeats);
    heartbeats = null;
    await eventually(async () => {
      const attach = await menuItem(page, '0000:47:00.0', 'Attach device');
      const disabled = (await attach.getAttribute('aria-disabled')) === 'true';
      const hint = disabled ? await hintOf(page, attach) : null;
      await page.keyboard.press('Escape');
      return disabled && /^Host kvm-g is offline; its agent must be connected/.test(hint ?? '');
    }, 20_000);
    expect(pageErrors(page)).toEqual([]);
  });
});
