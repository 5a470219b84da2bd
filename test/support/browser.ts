// A real browser for tests: Debian's Chromium, headless, driven by playwright-core, with a fresh profile and no
// way off this machine (the Temporal UI's news feed and the like are refused, not fetched). Screenshots go to
// .tmp/artifacts/, which CI keeps as the run's artifacts.
import { existsSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium, type BrowserContext, type Locator, type Page } from 'playwright-core';
import { ROOT, ensureDebianCommands } from '../../scripts/tools.ts';

export const CHROMIUM = '/usr/bin/chromium';
export const ARTIFACTS = join(ROOT, '.tmp', 'artifacts');

const ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];

export interface TestBrowser {
  context: BrowserContext;
  page: Page;
  /** Saves a screenshot of the page (or of one element) as .tmp/artifacts/NAME.png and returns its path. */
  screenshot(name: string, element?: Locator): Promise<string>;
  close(): Promise<void>;
}

function local(url: string): boolean {
  const { protocol, hostname } = new URL(url);
  if (protocol === 'data:' || protocol === 'blob:' || protocol === 'about:') return true;
  return hostname === 'localhost' || hostname === '[::1]' || /^127\./.test(hostname);
}

export async function openBrowser(): Promise<TestBrowser> {
  // Installed as root with apt when missing (as the harness does for qemu-img); otherwise the error says how.
  ensureDebianCommands({ chromium: 'chromium' });
  if (!existsSync(CHROMIUM))
    throw new Error(`${CHROMIUM} is missing: install Debian's chromium (apt-get install chromium) and run again`);
  const profile = mkdtempSync(join(tmpdir(), 'nodepool-chromium-'));
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    headless: true,
    args: ARGS,
    viewport: { width: 1400, height: 900 },
    timezoneId: 'UTC',
    locale: 'en-US',
  });
  await context.route('**/*', (route) => (local(route.request().url()) ? route.continue() : route.abort()));
  const page = context.pages()[0] ?? (await context.newPage());
  mkdirSync(ARTIFACTS, { recursive: true });
  return {
    context,
    page,
    async screenshot(name, element) {
      const path = join(ARTIFACTS, `${name}.png`);
      await (element ? element.screenshot({ path }) : page.screenshot({ path, fullPage: true }));
      return path;
    },
    async close() {
      await context.close();
      rmSync(profile, { recursive: true, force: true });
    },
  };
}
