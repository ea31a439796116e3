/**
 * Helpers for the browser test of the Temporal Web UI (test/ui.test.ts): Debian's Chromium driven
 * by playwright-core, kept to 127.0.0.1, and screenshots saved under test-output/ui/ (copied to
 * docs/screenshots/ for the README when LIFEBOAT_UPDATE_SCREENSHOTS=1).
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { chromium, type Browser, type BrowserContext, type Locator, type Page } from 'playwright-core';
import { ROOT } from './helpers';

// eslint-disable-next-line @typescript-eslint/no-require-imports
const { CHROMIUM } = require('../scripts/setup.js') as { CHROMIUM: string };

/** Every run's screenshots, and what the page showed when a step failed (gitignored). */
export const UI_OUTPUT = path.join(ROOT, 'test-output', 'ui');
/** The README's screenshots (committed). */
export const README_SCREENSHOTS = path.join(ROOT, 'docs', 'screenshots');

export async function launchChromium(): Promise<Browser> {
  if (!fs.existsSync(CHROMIUM))
    throw new Error(
      `${CHROMIUM} is missing: run \`node scripts/setup.js\` (it installs Debian's chromium package)`,
    );
  return chromium.launch({
    executablePath: CHROMIUM,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking'],
  });
}

/** What the browser complained about (page errors, console errors, HTTP errors, blocked requests). */
const browserLog: string[] = [];

/** A browser context whose pages reach 127.0.0.1 only: any other request is aborted. */
export async function localContext(browser: Browser): Promise<BrowserContext> {
  const context = await browser.newContext({
    viewport: { width: 1600, height: 1000 },
    // A fixed clock zone and scheme, so that the README's screenshots look the same on every machine.
    timezoneId: 'UTC',
    colorScheme: 'light',
  });
  await context.route('**/*', (route) => {
    if (new URL(route.request().url()).hostname === '127.0.0.1') return route.continue();
    browserLog.push(`blocked: ${route.request().url()}`);
    return route.abort();
  });
  context.on('page', (page) => {
    page.on('pageerror', (err) => browserLog.push(`page error: ${err.message}`));
    page.on('console', (m) => {
      if (m.type() === 'error' || m.type() === 'warning') browserLog.push(`console ${m.type()}: ${m.text()}`);
    });
    page.on('response', (r) => {
      if (r.status() >= 400) browserLog.push(`HTTP ${r.status()}: ${r.request().method()} ${r.url()}`);
    });
  });
  return context;
}

/**
 * Saves a screenshot under test-output/ui/, and into docs/screenshots/ when asked to update them.
 * `size` sets the viewport first (the UI scrolls inside its own pane, so a full-page shot is no taller).
 */
export async function screenshot(
  page: Page,
  name: string,
  size?: { width: number; height: number },
): Promise<string> {
  if (size) {
    await page.setViewportSize(size);
    // Let the layout settle at the new size before the shot.
    await page.evaluate('new Promise((done) => requestAnimationFrame(() => requestAnimationFrame(done)))');
  }
  fs.mkdirSync(UI_OUTPUT, { recursive: true });
  const file = path.join(UI_OUTPUT, `${name}.png`);
  await page.screenshot({ path: file, animations: 'disabled' });
  if (process.env.LIFEBOAT_UPDATE_SCREENSHOTS === '1') {
    fs.mkdirSync(README_SCREENSHOTS, { recursive: true });
    fs.copyFileSync(file, path.join(README_SCREENSHOTS, `${name}.png`));
  }
  return file;
}

/** Keeps what the page showed (screenshot, address, text) for whoever debugs a failure. */
export async function saveFailure(page: Page, name: string): Promise<void> {
  fs.mkdirSync(UI_OUTPUT, { recursive: true });
  try {
    await page.screenshot({ path: path.join(UI_OUTPUT, `${name}-failure.png`), fullPage: true });
    const text = await page.locator('body').innerText({ timeout: 5000 });
    fs.writeFileSync(
      path.join(UI_OUTPUT, `${name}-failure.txt`),
      `${page.url()}\n\n${text}\n\n--- browser log ---\n${browserLog.join('\n')}\n`,
    );
  } catch (err) {
    fs.writeFileSync(
      path.join(UI_OUTPUT, `${name}-failure.txt`),
      `${page.url()}\n\n(the page could not be captured: ${(err as Error).message})\n\n--- browser log ---\n${browserLog.join('\n')}\n`,
    );
  }
}

/**
 * Waits for `locator`, reloading the page now and then: list and status views show what the server
 * knew when they loaded. Each attempt gets long enough for the UI to load on a busy machine.
 */
export async function reloadUntilVisible(
  page: Page,
  locator: Locator,
  what: string,
  timeoutMs = 45000,
  /** What to do after each reload to bring the locator's part of the page back (e.g. open a tab). */
  afterReload?: () => Promise<void>,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      await locator
        .first()
        .waitFor({ state: 'visible', timeout: Math.min(10000, Math.max(1000, deadline - Date.now())) });
      return;
    } catch {
      if (Date.now() > deadline) throw new Error(`the UI did not show ${what} within ${timeoutMs / 1000}s`);
      await page.reload();
      await afterReload?.();
    }
  }
}
