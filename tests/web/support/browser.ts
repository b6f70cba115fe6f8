import { existsSync, mkdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { chromium, type Browser, type Locator, type Page } from 'playwright-core';

/** Debian's Chromium; CI installs it (`apt-get install chromium`). `npx playwright install` cannot work offline. */
export const CHROMIUM = process.env.PASSTHRU_CHROMIUM ?? '/usr/bin/chromium';
export const hasChromium = existsSync(CHROMIUM);
export const SKIP_REASON = `browser tests skipped: no Chromium at ${CHROMIUM} (apt-get install chromium, or set PASSTHRU_CHROMIUM)`;

// Tests never rewrite tracked files: screenshots are taken only when PASSTHRU_SCREENSHOTS names a
// folder, as `npm run screenshots` does for the README's (docs/screenshots).
const screenshotDir = process.env.PASSTHRU_SCREENSHOTS ? resolve(process.env.PASSTHRU_SCREENSHOTS) : null;

export async function launchChromium(): Promise<Browser> {
  return chromium.launch({
    executablePath: CHROMIUM,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking'],
  });
}

/** A page in its own browser context (its own cookies and storage: a second operator). */
export async function openPage(browser: Browser, url: string): Promise<Page> {
  const context = await browser.newContext({ viewport: { width: 1280, height: 800 } });
  const page = await context.newPage();
  page.setDefaultTimeout(10_000);
  const errors: string[] = [];
  page.on('pageerror', (error) => errors.push(error.message));
  (page as Page & { errors: string[] }).errors = errors;
  await page.goto(url);
  return page;
}

export function pageErrors(page: Page): string[] {
  return (page as Page & { errors?: string[] }).errors ?? [];
}

/** Saves the page as `name`.png for the README, when `npm run screenshots` asks for it; otherwise does nothing. */
export async function screenshot(page: Page, name: string) {
  if (!screenshotDir) return;
  mkdirSync(screenshotDir, { recursive: true });
  await page.screenshot({ path: join(screenshotDir, `${name}.png`) });
}

/** Signs in through the console's sign-in page and waits for the console. */
export async function signIn(page: Page, user: { username: string; password: string }) {
  await page.getByLabel('Username').fill(user.username);
  await page.getByLabel('Password').fill(user.password);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.getByRole('navigation', { name: 'Primary' }).waitFor();
}

/** Marks the document; if the page ever reloads, `stillSameDocument` turns false. */
export async function markDocument(page: Page) {
  await page.evaluate(() => ((window as unknown as { __passthruMark: boolean }).__passthruMark = true));
}

export async function stillSameDocument(page: Page) {
  return page.evaluate(() => (window as unknown as { __passthruMark?: boolean }).__passthruMark === true);
}

/** The device row of `address` on a Devices tab. */
export function deviceRow(page: Page, address: string): Locator {
  return page.locator(`tr[data-address="${address}"]`);
}

/** Waits until the row's status badge shows `status` (a DeviceStatus value). */
export async function waitForStatus(page: Page, address: string, status: string, timeout = 10_000) {
  await deviceRow(page, address).locator(`.device-status[data-status="${status}"]`).waitFor({ timeout });
}

/** Opens a row's ACTIONS menu and chooses `action`. */
export async function chooseAction(page: Page, address: string, action: string) {
  await page.getByRole('button', { name: `Actions for ${address}` }).click();
  await page.getByRole('menuitem', { name: action }).click();
}
