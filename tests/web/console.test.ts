import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Browser, Page } from 'playwright-core';
import { buildApp, type App } from '../../server/app.ts';
import { DetachDevice } from '../../protocol/commands.ts';
import { createLogger } from '../../server/logger.ts';
import { provisionVm, vm } from '../agent/support.ts';
import { TestClient, eventually } from '../support/client.ts';
import { Seed } from '../support/seed.ts';
import { ADMIN, startTestServer, type TestServer } from '../support/server.ts';
import { seedFleet, type Fleet } from './support/fleet.ts';
import { CreateUser } from './support/users.ts';
import {
  SKIP_REASON,
  chooseAction,
  deviceRow,
  hasChromium,
  launchChromium,
  markDocument,
  openPage,
  pageErrors,
  screenshot,
  signIn,
  stillSameDocument,
  waitForStatus,
} from './support/browser.ts';

if (!hasChromium) console.warn(SKIP_REASON);

const WATCHER = { username: 'watcher', password: 'a long viewer password' };

/**
 * The seed flow through the console, as two people would see it: page A (the admin) does
 * everything through the UI, page B (a viewer in another browser context) only watches,
 * navigating by links and never reloading, and must see every change as it happens. The hosts are TestAgents that answer each operation after a short delay,
 * so the in-flight states show.
 */
describe.skipIf(!hasChromium)('the operator console', () => {
  let server: TestServer;
  let fleet: Fleet;
  let browser: Browser;
  let a: Page;
  let b: Page;
  let restarted: App | null = null;
  let kvmA: string;

  beforeAll(async () => {
    server = await startTestServer();
    fleet = await seedFleet(server.client, server.url, { latencyMs: 700 });
    kvmA = fleet.hosts.find((h) => h.name === 'kvm-a')!.hostId;
    // A VM to assign the USB device to, made through the API before the UI part.
    const seed = new Seed(server.client, server.url);
    const { id: planId } = await seed.plan({ name: 'cpu-small', cores: 2, memoryMb: 4096, diskGb: 20, gpuCount: 0 });
    const { vmId } = await provisionVm(server.client, { name: 'vm-usb', planId, hostId: kvmA });
    await eventually(async () => (await vm(server.client, vmId))?.status === 'RUNNING');
    const { createUser } = await server.client.data(CreateUser, { input: { ...WATCHER, role: 'VIEWER' } });
    expect(createUser.__typename).toBe('User');
    browser = await launchChromium();
    a = await openPage(browser, `${server.url}/`);
    await signIn(a, ADMIN);
    // A deep link survives sign-in: B lands on kvm-a's Devices tab.
    b = await openPage(browser, `${server.url}/hosts/${encodeURIComponent(kvmA)}/devices`);
    await signIn(b, WATCHER);
    await b.getByRole('heading', { name: 'kvm-a' }).waitFor();
    await markDocument(b);
  });

  afterAll(async () => {
    await browser?.close();
    await fleet?.stop();
    if (restarted) {
      await server.client.close();
      await restarted.stop();
      await server.database.drop();
    } else await server?.stop();
  });

  it('detaches a USB device, assigns it to a VM through the modal, releases and reattaches it, live on a second page', async () => {
    // Page A goes to kvm-a's Devices tab the way an operator would.
    await a.getByRole('navigation', { name: 'Primary' }).getByRole('link', { name: 'Hosts' }).click();
    await a.getByRole('link', { name: 'kvm-a' }).click();
    await a.getByRole('link', { name: /Devices/ }).click();
    await waitForStatus(a, '1-1', 'ATTACHED');
    // The viewer sees the same devices but may not change them.
    expect(await b.getByRole('button', { name: 'Actions for 1-1' }).isDisabled()).toBe(true);

    // Detach: Attached -> Detaching… -> Detached.
    await chooseAction(a, '1-1', 'Detach device');
    await waitForStatus(a, '1-1', 'DETACHING');
    expect(await deviceRow(a, '1-1').locator('.device-status').innerText()).toBe('Detaching…');
    await waitForStatus(a, '1-1', 'DETACHED');
    await waitForStatus(b, '1-1', 'DETACHED');

    // Assign through the modal, to the VM on this host.
    await chooseAction(a, '1-1', 'Assign device');
    const dialog = a.getByRole('dialog', { name: 'Assign device' });
    await dialog.waitFor();
    await dialog.getByRole('radio', { name: /vm-usb/ }).check();
    await screenshot(a, 'assign-modal');
    await dialog.getByRole('button', { name: 'Execute' }).click();
    await dialog.waitFor({ state: 'detached' });
    await waitForStatus(a, '1-1', 'ASSIGNED');
    await waitForStatus(b, '1-1', 'ASSIGNED');
    expect(await deviceRow(b, '1-1').getByRole('link', { name: 'vm-usb' }).count()).toBe(1);
    await screenshot(a, 'host-devices');

    // It is on the VM's Devices tab; release it from there.
    await deviceRow(a, '1-1').getByRole('link', { name: 'vm-usb' }).click();
    await a.getByRole('heading', { name: 'vm-usb' }).waitFor();
    await waitForStatus(a, '1-1', 'ASSIGNED');
    await chooseAction(a, '1-1', 'Release');
    await a.getByText('No devices passed through').waitFor();
    await waitForStatus(b, '1-1', 'DETACHED');

    // Back on the host, give it back to the host OS.
    await a.getByRole('link', { name: 'kvm-a' }).first().click();
    await a.getByRole('link', { name: /Devices/ }).click();
    await chooseAction(a, '1-1', 'Attach device');
    await waitForStatus(a, '1-1', 'ATTACHED');
    await waitForStatus(b, '1-1', 'ATTACHED');

    // The device's own history tells the story, newest first.
    await deviceRow(a, '1-1').getByRole('button', { name: 'Show history of 1-1' }).click();
    const history = a.getByRole('region', { name: 'Device history' });
    await history.locator('.device-status').first().waitFor();
    expect(await history.innerText()).toContain('by user:admin');
    const statuses = await history.locator('.device-status').evaluateAll((els) => els.map((el) => el.getAttribute('data-status')));
    expect(statuses.slice(0, 2)).toEqual(['ATTACHING', 'ATTACHED']);

    expect(await stillSameDocument(b)).toBe(true);
    expect(pageErrors(a)).toEqual([]);
    expect(pageErrors(b)).toEqual([]);
  });

  it('creates a KVM plan with GPU COUNT 2, provisions a VM that gets two GPUs, deletes it and they return, live on a second page', async () => {
    // Page B watches the plans list (no reload: it follows links); a viewer cannot add one.
    await b.getByRole('navigation', { name: 'Primary' }).getByRole('link', { name: 'Plans' }).click();
    await b.getByRole('heading', { name: 'Service plans' }).waitFor();
    expect(await b.getByRole('button', { name: 'Add' }).count()).toBe(0);

    await a.getByRole('navigation', { name: 'Primary' }).getByRole('link', { name: 'Plans' }).click();
    await a.getByRole('button', { name: 'Add' }).click();
    const modal = a.getByRole('dialog', { name: 'New Service Plan' });
    await modal.getByLabel('Name').fill('gpu-2x');
    // GPU COUNT exists only for KVM.
    await modal.getByLabel('Provision type').selectOption('LXC');
    expect(await modal.getByLabel('GPU count').count()).toBe(0);
    await modal.getByLabel('Provision type').selectOption('KVM');
    await modal.getByLabel('GPU count').fill('2');
    await modal.getByLabel('GPU model').selectOption('10de:2204');
    await modal.getByRole('button', { name: 'Create plan' }).click();
    await modal.waitFor({ state: 'detached' });
    const planRow = a.getByRole('row', { name: /gpu-2x/ });
    await planRow.waitFor();
    expect(await planRow.innerText()).toContain('2 × GA102 [GeForce RTX 3090]');
    await b.getByRole('row', { name: /gpu-2x/ }).waitFor();

    // A plan in use cannot be deleted: the server's PlanInUseError shows in the dialog.
    await a.getByRole('button', { name: 'Delete cpu-small' }).click();
    const refuse = a.getByRole('dialog', { name: 'Delete plan cpu-small?' });
    await refuse.getByRole('button', { name: 'Delete plan' }).click();
    await refuse.getByRole('alert').waitFor();
    expect(await refuse.getByRole('alert').innerText()).toMatch(/vm|VM/);
    await refuse.getByRole('button', { name: 'Cancel' }).click();
    await refuse.waitFor({ state: 'detached' });
    expect(await a.getByRole('row', { name: /cpu-small/ }).count()).toBe(1);

    // Page B moves on to watch kvm-a's devices.
    await b.getByRole('navigation', { name: 'Primary' }).getByRole('link', { name: 'Hosts' }).click();
    await b.getByRole('link', { name: 'kvm-a' }).click();
    await b.getByRole('link', { name: /Devices/ }).click();
    await waitForStatus(b, '0000:41:00.0', 'DETACHED');

    // Provision: the form says what the plan needs and whether it fits now.
    await a.getByRole('navigation', { name: 'Primary' }).getByRole('link', { name: 'Virtual machines' }).click();
    await a.getByRole('link', { name: 'Provision VM' }).first().click();
    await a.getByLabel('Name').fill('train-01');
    await a.getByLabel('Service plan').selectOption({ label: 'gpu-2x — KVM, 8 vCPU, 32 GiB, 2 GPU' });
    // Only kvm-a has the plan's model (the previous plan's answer may still be on screen a moment).
    await a.locator('[data-testid="capacity"] [data-fits="true"]').getByText('Fits now on kvm-a').waitFor();
    await a.getByRole('button', { name: 'Provision VM' }).click();
    await a.getByRole('heading', { name: 'train-01' }).waitFor();
    await a.getByRole('link', { name: /Devices/ }).click();
    await a.locator('.device-status[data-status="ASSIGNED"]').nth(1).waitFor();
    expect(await a.locator('tr[data-device-id]').count()).toBe(2);

    // Page B saw two GPUs move from the pool to the VM.
    await eventually(async () => (await b.locator('tr[data-address^="0000:4"] .device-status[data-status="ASSIGNED"]').count()) === 2);
    expect(await b.locator('tr[data-address^="0000:4"] .device-status[data-status="DETACHED"]').count()).toBe(2);

    await a.getByRole('navigation', { name: 'Primary' }).getByRole('link', { name: 'Dashboard' }).click();
    await a.locator('[data-kind="GPU"] [data-testid="assigned"]', { hasText: '2' }).waitFor();
    await screenshot(a, 'dashboard');
    await a.goBack();
    await a.goBack();

    // Delete: the dialog says which devices return to the pool.
    await a.getByRole('heading', { name: 'train-01' }).waitFor();
    await a.getByRole('button', { name: 'Delete VM' }).click();
    const confirm = a.getByRole('dialog', { name: 'Delete train-01?' });
    expect(await confirm.getByRole('list', { name: 'Devices returning to the pool' }).getByRole('listitem').count()).toBe(2);
    expect(await confirm.innerText()).toContain('These 2 devices return to the pool');
    await confirm.getByRole('button', { name: 'Delete VM' }).click();
    await confirm.waitFor({ state: 'detached' });
    await a.locator('.vm-status[data-status="DELETED"]').waitFor();

    await eventually(async () => (await b.locator('tr[data-address^="0000:4"] .device-status[data-status="DETACHED"]').count()) === 4);
    expect(await stillSameDocument(b)).toBe(true);
    expect(pageErrors(a)).toEqual([]);
    expect(pageErrors(b)).toEqual([]);
  });

  it('shows why an operation failed on the row of the device, and the device returns to where it was', async () => {
    const kvmB = fleet.hosts.find((h) => h.name === 'kvm-b')!;
    kvmB.agent.respond = () => ({ succeeded: false, error: 'usb 1-1: device is busy' });
    await a.getByRole('navigation', { name: 'Primary' }).getByRole('link', { name: 'Hosts' }).click();
    await a.getByRole('link', { name: 'kvm-b' }).click();
    await a.getByRole('link', { name: /Devices/ }).click();
    await chooseAction(a, '1-1', 'Detach device');
    const alert = a.getByRole('alert').filter({ hasText: 'Detach failed: usb 1-1: device is busy' });
    await alert.waitFor();
    await waitForStatus(a, '1-1', 'ATTACHED');
    await a.getByRole('button', { name: 'Dismiss' }).click();
    await alert.waitFor({ state: 'detached' });
    kvmB.agent.respond = () => ({ succeeded: true });
  });

  it('works from the keyboard: the ACTIONS menu, and the dialog that traps focus and gives it back', async () => {
    await a.getByRole('navigation', { name: 'Primary' }).getByRole('link', { name: 'Hosts' }).click();
    await a.getByRole('link', { name: 'kvm-a' }).click();
    await a.getByRole('link', { name: /Devices/ }).click();
    await waitForStatus(a, '0000:41:00.0', 'DETACHED');
    const focused = () => a.evaluate(() => (document.activeElement as HTMLElement | null)?.innerText?.trim() ?? document.activeElement?.getAttribute('aria-label'));
    const button = a.getByRole('button', { name: 'Actions for 0000:41:00.0' });
    await button.focus();
    await a.keyboard.press('Enter');
    expect(await focused()).toBe('Attach device');
    await a.keyboard.press('ArrowDown');
    expect(await focused()).toBe('Assign device');
    await a.keyboard.press('Enter');
    const dialog = a.getByRole('dialog', { name: 'Assign device' });
    await dialog.waitFor();
    expect(await a.evaluate(() => (document.activeElement as HTMLInputElement).type)).toBe('radio');
    for (let i = 0; i < 6; i++) {
      await a.keyboard.press('Tab');
      expect(await a.evaluate(() => !!document.activeElement?.closest('[role="dialog"]'))).toBe(true);
    }
    await a.keyboard.press('Escape');
    await dialog.waitFor({ state: 'detached' });
    expect(await a.evaluate(() => document.activeElement?.getAttribute('aria-label'))).toBe('Actions for 0000:41:00.0');
  });

  it('shows the connection state, recovers by itself after the server restarts, and shows what changed while it was away', async () => {
    await b.getByRole('link', { name: /Devices/ }).click();
    const badge = b.getByTestId('connection-state');
    await b.locator('[data-testid="connection-state"][data-state="connected"]').waitFor();
    expect(await badge.innerText()).toBe('Live');

    const devices = await new Seed(server.client, server.url).devices(kvmA);
    const usb = devices.find((d) => d.address === '1-2')!;
    const other = devices.find((d) => d.kind === 'NVME' && d.status === 'ATTACHED')!;
    const port = Number(new URL(server.url).port);
    await server.app.stop();
    await b.locator('[data-testid="connection-state"][data-state="reconnecting"]').waitFor();
    expect(await badge.innerText()).toBe('Reconnecting…');

    // While B cannot reach its server, a change is committed through another process on the same
    // database. B resumes from its last cursor, so the server replays it: nothing refetches the page.
    const meanwhile = await buildApp(server.config, { logger: createLogger('silent') });
    const elsewhere = new TestClient(`http://127.0.0.1:${await meanwhile.start(0)}`, server.client.token);
    await elsewhere.data(DetachDevice, { deviceId: usb.id });
    await meanwhile.stop();

    restarted = await buildApp(server.config, { logger: createLogger('silent') });
    await restarted.start(port);
    await b.locator('[data-testid="connection-state"][data-state="connected"]').waitFor({ timeout: 20_000 });
    // (The TestAgents' own streams do not reconnect, so operations stay in flight: Detaching….)
    await waitForStatus(b, '1-2', 'DETACHING');

    // And a change after the restart shows up live, without a reload.
    await server.client.data(DetachDevice, { deviceId: other.id });
    await waitForStatus(b, other.address, 'DETACHING');
    expect(await stillSameDocument(b)).toBe(true);
  });
});
