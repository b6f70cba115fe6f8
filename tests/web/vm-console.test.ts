import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Browser, Page } from 'playwright-core';
import { AgentClient } from '../../agent/client.ts';
import { SimBackend } from '../../agent/backends/sim/index.ts';
import { blockAt, GUEST_SCREEN } from '../../agent/backends/sim/guest-screen.ts';
import { eventually } from '../support/client.ts';
import { ADMIN, startTestServer, type TestServer } from '../support/server.ts';
import { assignDevice, operationEnded, provisionVm, testLogger } from '../agent/support.ts';
import { deviceAt, Seed } from '../support/seed.ts';
import { SKIP_REASON, chooseAction, hasChromium, launchChromium, openPage, pageErrors, screenshot, signIn, waitForStatus } from './support/browser.ts';

if (!hasChromium) console.warn(SKIP_REASON);

/** The text xterm.js shows on screen, row by row. */
async function screenText(page: Page): Promise<string> {
  return page.locator('.xterm-rows').innerText();
}

/** The [r, g, b] of the pixel at (x, y) of noVNC's canvas: the guest's framebuffer, unscaled. */
async function screenPixel(page: Page, x: number, y: number): Promise<number[]> {
  return page.locator('.screen canvas').evaluate((canvas: HTMLCanvasElement, [px, py]) => [...canvas.getContext('2d')!.getImageData(px!, py!, 1, 1).data.slice(0, 3)], [x, y]);
}

const rgb = (color: number) => [(color >> 16) & 0xff, (color >> 8) & 0xff, color & 0xff];

/**
 * The seed's last step in the browser: "If we then open a console session with this VM, we can
 * see the USB device is assigned successfully and is usable by the guest OS." A real agent on
 * a simulated host serves the console, so `lsusb` lists what is passed through to the VM.
 */
describe.skipIf(!hasChromium)('the VM console in the browser', () => {
  let server: TestServer;
  let agent: AgentClient;
  let browser: Browser;
  let page: Page;
  let hostId: string;
  let vmId: string;

  beforeAll(async () => {
    server = await startTestServer();
    const seed = new Seed(server.client);
    const enrolled = await seed.cluster('lab').enroll('kvm-console');
    hostId = enrolled.id;
    const backend = new SimBackend(
      { name: 'kvm-console', latencyMs: 150, gpus: [{ model: 'rtx-4090', count: 1, pooled: true }], usb: [{ model: 'sandisk-ultra-fit' }, { model: 'yubikey' }] },
      {},
    );
    agent = new AgentClient({ serverUrl: server.url, token: enrolled.token, backend, logger: testLogger() }).start();
    await eventually(async () => (await deviceAt(server.client, hostId, '1-1').catch(() => null)) !== null);
    const { id: planId } = await seed.plan({ name: 'cpu-small', cores: 2, memoryMb: 4096, diskGb: 20, gpuCount: 0 });
    const provisioned = await provisionVm(server.client, { name: 'vm-usb', planId, hostId });
    vmId = provisioned.vmId;
    expect((await operationEnded(server.client, provisioned.operationId)).status).toBe('SUCCEEDED');
    // A GPU (pooled from boot) goes to the VM through the API, so the guest has a PCI device too.
    const gpu = await deviceAt(server.client, hostId, '0000:17:00.0');
    expect((await operationEnded(server.client, await assignDevice(server.client, { deviceId: gpu.id, vmId, withGroup: true }))).status).toBe('SUCCEEDED');
    browser = await launchChromium();
    page = await openPage(browser, `${server.url}/hosts/${encodeURIComponent(hostId)}/devices`);
    await signIn(page, ADMIN);
  });

  afterAll(async () => {
    await browser?.close();
    await agent?.stop({ graceMs: 0 });
    await server?.stop();
  });

  it('assigns a USB device to a VM, opens its console, and lsusb in the guest shows the device', async () => {
    // Detach the SanDisk stick into the pool and assign it to vm-usb, through the UI.
    await waitForStatus(page, '1-1', 'ATTACHED');
    await chooseAction(page, '1-1', 'Detach device');
    await waitForStatus(page, '1-1', 'DETACHED');
    await chooseAction(page, '1-1', 'Assign device');
    const dialog = page.getByRole('dialog', { name: 'Assign device' });
    await dialog.getByRole('radio', { name: /vm-usb/ }).check();
    await dialog.getByRole('button', { name: 'Execute' }).click();
    await waitForStatus(page, '1-1', 'ASSIGNED');

    // From the VM's Devices tab, open the console.
    await page.locator('tr[data-address="1-1"]').getByRole('link', { name: 'vm-usb' }).click();
    await page.getByRole('heading', { name: 'vm-usb' }).waitFor();
    await page.getByRole('link', { name: 'Devices' }).click();
    await waitForStatus(page, '1-1', 'ASSIGNED');
    await page.getByRole('link', { name: 'Open console' }).click();
    await page.locator('[data-console-state="open"]').waitFor();
    await page.waitForFunction(() => document.querySelector('.xterm-rows')?.textContent?.includes('root@vm-usb:~#'));

    // Type into the terminal like an operator.
    await page.locator('.xterm').click();
    await page.keyboard.type('lspci -nn\n');
    await page.waitForFunction(() => document.querySelector('.xterm-rows')?.textContent?.includes('[10de:2684]'));
    expect(await screenText(page)).toContain('01:00.0 VGA compatible controller [0300]: NVIDIA Corporation AD102 [GeForce RTX 4090] [10de:2684]');
    await page.keyboard.type('lsusb\n');
    await page.waitForFunction(() => document.querySelector('.xterm-rows')?.textContent?.includes('SanDisk Corp. Ultra Fit'));
    const screen = await screenText(page);
    expect(screen).toContain('Bus 001 Device 002: ID 0781:5583 SanDisk Corp. Ultra Fit');
    // Only what is assigned: the YubiKey on the same host is not in the guest.
    expect(screen).not.toContain('Yubico');
    await page.keyboard.type('uname -a\n');
    await page.waitForFunction(() => document.querySelector('.xterm-rows')?.textContent?.includes('GNU/Linux'));
    await screenshot(page, 'vm-console');

    // `exit` ends the session, and the page says why and offers to reconnect.
    await page.keyboard.type('exit\n');
    await page.locator('[data-console-state="closed"]').waitFor();
    await page.getByRole('status').filter({ hasText: 'The guest shell exited' }).waitFor();
    await page.getByRole('button', { name: 'Reconnect' }).click();
    await page.locator('[data-console-state="open"]').waitFor();
    expect(pageErrors(page)).toEqual([]);
  });

  it("shows the VM's screen in the Graphics view: noVNC connects through the relay and draws the sim guest's device blocks", async () => {
    await page.goto(`${server.url}/vms/${encodeURIComponent(vmId)}/console`);
    await page.locator('[data-console-state="open"]').waitFor();
    await page.getByRole('group', { name: 'Console view' }).getByRole('button', { name: 'Graphics' }).click();
    await page.locator('[data-graphics-state="open"]').waitFor();
    // The guest's screen, as the sim draws it: the title band, and the GPU passed through first.
    const gpuBlock = blockAt(0);
    await expect.poll(() => screenPixel(page, gpuBlock.x + 10, gpuBlock.y + 10), { timeout: 10_000 }).toEqual(rgb(GUEST_SCREEN.colors.GPU));
    expect(await screenPixel(page, 5, 5)).toEqual(rgb(GUEST_SCREEN.band.color));
    expect(await screenPixel(page, 600, 380)).toEqual(rgb(GUEST_SCREEN.background));
    await screenshot(page, 'vm-graphics');
    // Back to the serial view: its own session again.
    await page.getByRole('group', { name: 'Console view' }).getByRole('button', { name: 'Serial' }).click();
    await page.locator('[data-console-state="open"]').waitFor();
    expect(pageErrors(page)).toEqual([]);
  });
});
