// The console's device view shows a PCI function's class code, subsystem IDs and revision as
// the agent reported them, and nothing of the kind for a USB device.

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Browser, Page } from 'playwright-core';
import { Seed } from '../support/seed.ts';
import { ADMIN, startTestServer, type TestServer } from '../support/server.ts';
import { SKIP_REASON, deviceRow, hasChromium, launchChromium, openPage, pageErrors, signIn } from './support/browser.ts';

if (!hasChromium) console.warn(SKIP_REASON);

describe.skipIf(!hasChromium)('the device view', () => {
  let server: TestServer;
  let browser: Browser;
  let page: Page;
  let hostId: string;

  beforeAll(async () => {
    server = await startTestServer();
    const seed = new Seed(server.client, server.url);
    ({ id: hostId } = await seed.cluster().host({
      name: 'gh200-node',
      devices: [
        {
          kind: 'GPU', address: '0000:17:00.0', vendorId: '10de', productId: '2342', vendorName: 'NVIDIA Corporation', productName: 'GH100 [GH200 120GB / 480GB]',
          classCode: '030200', subsystemVendorId: '10de', subsystemProductId: '16eb', revision: 'a1',
        },
        { kind: 'USB', address: '1-1', vendorId: '046d', productId: 'c31c', productName: 'Keyboard K120' },
      ],
    }));
    browser = await launchChromium();
    page = await openPage(browser, `${server.url}/hosts/${encodeURIComponent(hostId)}/devices`);
    await signIn(page, ADMIN);
  });

  afterAll(async () => {
    await browser?.close();
    await server?.stop();
  });

  it("shows a PCI device's class code, subsystem IDs and revision beside its IDs, and none for a USB device", async () => {
    const gpu = deviceRow(page, '0000:17:00.0');
    await expect.poll(() => gpu.locator('.pci-identity').textContent()).toBe('class 030200 · subsystem 10de:16eb · rev a1');
    await expect.poll(() => deviceRow(page, '1-1').locator('.c-ids').textContent().then((text) => text?.trim())).toBe('046d:c31c');
    expect(await deviceRow(page, '1-1').locator('.pci-identity').count()).toBe(0);
    expect(pageErrors(page)).toEqual([]);
  });
});
