// The status page of a real `weir serve`, in Debian's Chromium driven by
// playwright-core: each view shows what the API knows, actions obey the
// admin token, the page updates by itself, nothing but the server is
// contacted, no script or policy error occurs, and axe-core finds no
// serious or critical accessibility violation. A screenshot of each view
// goes to target/screenshots/.

import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Browser, BrowserContext, Page, chromium } from 'playwright-core';
import { ADMIN_TOKEN, ROOT, Weir, apiCall, startWeir, until } from './weir';

const SCREENSHOTS = join(ROOT, 'target', 'screenshots');

/** The Chromium to drive: WEIR_CHROMIUM, else Debian's. */
function chromiumPath(): string {
  const candidates = [process.env.WEIR_CHROMIUM, '/usr/lib/chromium/chromium', '/usr/bin/chromium'];
  const found = candidates.find((path) => path && existsSync(path));
  if (!found) throw new Error('no Chromium found: run `.ci/browser.sh install` or set WEIR_CHROMIUM');
  return found;
}

let weir: Weir;
let browser: Browser;
let context: BrowserContext;
let page: Page;
/** What went wrong in the page: script errors, policy violations, other origins. */
const faults: string[] = [];

function watch(target: Page): void {
  target.on('pageerror', (error) => faults.push(`page error: ${error.message}`));
  target.on('console', (message) => {
    if (message.type() === 'error' && !/the server responded with a status of 40[13]/.test(message.text())) {
      faults.push(`console error: ${message.text()}`);
    }
  });
  target.on('request', (request) => {
    if (!request.url().startsWith(`${weir.url}/`)) faults.push(`request to another origin: ${request.url()}`);
  });
}

interface AxeViolation {
  id: string;
  impact: string | null;
  help: string;
  nodes: { target: string[] }[];
}

/** axe-core's serious and critical violations on the page as it is now. */
async function accessibilityViolations(target: Page): Promise<AxeViolation[]> {
  const source = readFileSync(require.resolve('axe-core/axe.min.js'), 'utf8');
  // Evaluated through the DevTools protocol: the page's own policy forbids
  // inline scripts, and must stay in force for the rest of the checks.
  await target.evaluate(source);
  const violations = await target.evaluate(async () => {
    const axe = (window as unknown as { axe: { run: (context: Document, options: object) => Promise<{ violations: AxeViolation[] }> } }).axe;
    const results = await axe.run(document, { runOnly: { type: 'tag', values: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa', 'best-practice'] } });
    return results.violations;
  });
  return violations.filter((v) => v.impact === 'serious' || v.impact === 'critical');
}

async function expectAccessible(view: string): Promise<void> {
  const violations = await accessibilityViolations(page);
  assert.deepEqual(
    violations.map((v) => `${v.id} (${v.impact}): ${v.help} at ${v.nodes.map((n) => n.target.join(' ')).join(', ')}`),
    [],
    `axe-core on the ${view} view`,
  );
}

async function screenshot(name: string, target: Page = page): Promise<void> {
  await target.screenshot({ path: join(SCREENSHOTS, `${name}.png`), fullPage: true });
}

function row(source: string) {
  return page.locator(`#sources-table tbody tr[data-source="${source}"]`);
}

before(async () => {
  mkdirSync(SCREENSHOTS, { recursive: true });
  weir = await startWeir();
  browser = await chromium.launch({
    executablePath: chromiumPath(),
    headless: true,
    // Root in CI cannot use Chromium's sandbox; and nothing but loopback
    // resolves, so the page cannot reach anything else even by mistake.
    args: ['--no-sandbox', '--disable-gpu', '--host-resolver-rules=MAP * ~NOTFOUND , EXCLUDE 127.0.0.1'],
  });
  context = await browser.newContext({ viewport: { width: 1360, height: 900 }, colorScheme: 'light' });
  page = await context.newPage();
  watch(page);
  // Every source has acted: three resting after their first cycle, one backing off.
  await until('every source to finish its first cycle or back off', async () => {
    const { body } = await apiCall(weir, '/api/catalog/incremental/providers');
    const sources = (body as { sources: { name: string; phase: string | null; cycle: number }[] }).sources;
    const phase = (name: string) => sources.find((s) => s.name === name)?.phase;
    return ['synthetic', 'hierarchy', 'well-behaved'].every((name) => phase(name) === 'resting')
      && phase('open-transient') === 'backing off';
  }, 120_000);
});

after(async () => {
  await browser?.close();
  await weir?.stop();
});

test('the sources view shows each source with its phase, cycle, plugin and errors', async () => {
  await page.goto(`${weir.url}/`);
  await row('synthetic').waitFor();
  await until('every source row', async () => (await page.locator('#sources-table tbody tr').count()) === 4, 20_000);
  assert.equal(await row('synthetic').locator('[data-field="phase"]').innerText(), 'resting');
  assert.equal(await row('hierarchy').locator('[data-field="phase"]').innerText(), 'resting');
  assert.equal(await row('well-behaved').locator('[data-field="phase"]').innerText(), 'resting');
  assert.equal(await row('open-transient').locator('[data-field="phase"]').innerText(), 'backing off');
  assert.match(await row('open-transient').locator('[data-field="backoff"]').innerText(), /step 1/);
  assert.match(await row('open-transient').locator('[data-field="error"]').innerText(), /open-transient/);
  assert.match(await row('synthetic').locator('[data-field="cycle"]').innerText(), /cycle 1/);
  assert.match(await row('synthetic').locator('[data-field="plugin"]').innerText(), /synthetic\.wasm/);
  assert.match(await row('well-behaved').locator('[data-field="cycle"]').innerText(), /1 rejected/);
  // The details: a chart of entities per second, the cycle history, the plugin.
  const details = page.locator('#source-synthetic');
  assert.equal(await details.locator('.chart svg rect.bar').count(), 1);
  assert.match(await details.locator('.chart svg').getAttribute('aria-label') ?? '', /Entities per second/);
  assert.match(await details.locator('table').innerText(), /completed/);
  assert.equal(await page.title(), 'Sources · Weir status');
  await screenshot('sources');
  // The first screenful, as docs/images/status-page.png shows it.
  await page.screenshot({ path: join(SCREENSHOTS, 'sources-top.png') });
  await expectAccessible('sources');
});

test('the page updates by itself when a cycle advances', async () => {
  await page.goto(`${weir.url}/ui/sources`);
  await row('hierarchy').waitFor();
  assert.match(await row('hierarchy').locator('[data-field="cycle"]').innerText(), /cycle 1\b/);
  // Another operator starts a new cycle through the API, not this page.
  const started = await apiCall(weir, '/api/catalog/incremental/providers/hierarchy/start', {
    method: 'POST',
    headers: { Authorization: `Bearer ${ADMIN_TOKEN}` },
  });
  assert.equal(started.status, 200, JSON.stringify(started.body));
  await until('the page to show cycle 2 of hierarchy without a reload', async () =>
    /cycle 2\b/.test(await row('hierarchy').locator('[data-field="cycle"]').innerText()), 40_000);
  await until('the chart to hold both cycles', async () =>
    (await page.locator('#source-hierarchy .chart svg rect.bar').count()) === 2, 40_000);
});

test('an action without the admin token is refused in the page; with it, it works', async () => {
  await page.goto(`${weir.url}/ui/sources`);
  await row('synthetic').waitFor();
  await row('synthetic').getByRole('button', { name: 'Trigger synthetic' }).click();
  const result = page.locator('#action-result');
  await until('the refusal', async () => /refused/.test(await result.innerText()), 10_000);
  assert.match(await result.innerText(), /\(401\)/);
  assert.match(await result.innerText(), /admin token/);
  await screenshot('sources-refused');

  await page.fill('#token', ADMIN_TOKEN);
  await page.press('#token', 'Enter');
  assert.match(await page.locator('#token-state').innerText(), /set for this tab/);
  await row('synthetic').getByRole('button', { name: 'Trigger synthetic' }).click();
  await until('the trigger to be done', async () => /Next action triggered/.test(await result.innerText()), 10_000);
  await until('synthetic to start its cycle 2', async () =>
    /cycle 2\b/.test(await row('synthetic').locator('[data-field="cycle"]').innerText()), 40_000);
  // The token stays in this tab only.
  assert.equal(await page.evaluate(() => sessionStorage.getItem('weir.token')), ADMIN_TOKEN);
  await page.click('#token-forget');
  assert.equal(await page.evaluate(() => sessionStorage.getItem('weir.token')), null);
});

test('the bad entity appears under rejections with its field and message', async () => {
  await page.goto(`${weir.url}/ui/sources`);
  await page.getByRole('link', { name: 'Rejections' }).click();
  await page.waitForURL(/\/ui\/rejections$/);
  await page.selectOption('#rejections-source', 'well-behaved');
  await page.waitForURL(/source=well-behaved/);
  const rows = page.locator('#rejections-table tbody tr');
  await until('the rejection', async () => /well-behaved-2/.test(await rows.first().innerText()), 10_000);
  assert.equal(await rows.count(), 1);
  const text = await rows.first().innerText();
  assert.match(text, /component:default\/well-behaved-2/);
  assert.match(text, /spec\.lifecycle/);
  assert.match(text, /\bno\b/, 'not in the catalog');
  // Another source's filter shows none of it.
  await page.selectOption('#rejections-source', 'synthetic');
  await until('the filter', async () => /Nothing of synthetic/.test(await rows.first().innerText()), 10_000);
  await page.selectOption('#rejections-source', 'well-behaved');
  await until('the rejection again', async () => /well-behaved-2/.test(await rows.first().innerText()), 10_000);
  await screenshot('rejections');
  await expectAccessible('rejections');
});

test('searching an entity shows its provenance and each source’s version', async () => {
  await page.goto(`${weir.url}/ui/entities`);
  await page.fill('#search', 'well-behaved-1');
  await page.press('#search', 'Enter');
  const link = page.locator('#search-results a', { hasText: 'component:default/well-behaved-1' });
  await link.waitFor();
  await link.click();
  await page.waitForURL(/ref=component%3Adefault%2Fwell-behaved-1/);
  const fields = page.locator('#fields-table');
  await fields.waitFor();
  const greeting = fields.locator('tr', { hasText: 'metadata.annotations["weir.test/greeting"]' });
  assert.match(await greeting.innerText(), /hello from the browser test/);
  assert.match(await greeting.innerText(), /well-behaved/, 'the annotation names its source');
  assert.match(await fields.locator('tr', { hasText: 'spec' }).first().innerText(), /well-behaved build [0-9a-f]{12}/);
  assert.match(await page.locator('#entity').innerText(), /Each source’s own version/);
  assert.match(await page.locator('#entity-events').innerText(), /added/);
  await screenshot('entities');
  await expectAccessible('entities');
});

test('the event log shows its head, its purge point and a live tail', async () => {
  await page.goto(`${weir.url}/ui/events`);
  const head = page.locator('#head-offset');
  await until('the head offset', async () => /^\d+$/.test(await head.innerText()), 20_000);
  const before = Number(await head.innerText());
  assert.ok(before > 0);
  assert.match(await page.locator('#log-bounds').innerText(), /Purged through\s+0/);
  // The newest events, read by the page's long poll from near the head.
  await until('the tail', async () => (await page.locator('#tail-table tbody tr td.num').count()) > 0, 20_000);
  const offsets = await page.locator('#tail-table tbody tr td.num').allInnerTexts();
  assert.ok(offsets.length <= 50);
  assert.equal(Number(offsets[0]), before, 'the newest event first');
  await screenshot('events');
  await expectAccessible('events');
});

test('the page reads well on a phone and is driven by keyboard', async () => {
  const phone = await browser.newContext({ viewport: { width: 390, height: 844 }, isMobile: true, hasTouch: true });
  const small = await phone.newPage();
  watch(small);
  await small.goto(`${weir.url}/ui/sources`);
  await small.locator('#sources-table tbody tr[data-source="synthetic"]').waitFor();
  const overflow = await small.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
  assert.ok(overflow <= 1, `the page is ${overflow}px wider than the phone's screen`);
  await screenshot('sources-phone', small);
  await phone.close();

  // The dark scheme's colours meet the same contrast rules.
  await page.emulateMedia({ colorScheme: 'dark' });
  await page.goto(`${weir.url}/ui/sources`);
  await row('synthetic').waitFor();
  await screenshot('sources-dark');
  await expectAccessible('sources (dark scheme)');
  await page.emulateMedia({ colorScheme: 'light' });

  await page.goto(`${weir.url}/ui/sources`);
  await page.keyboard.press('Tab');
  assert.equal(await page.evaluate(() => document.activeElement?.textContent), 'Skip to content');
  // Into the views' links, and to the entities view with the keyboard.
  for (let i = 0; i < 10; i++) {
    await page.keyboard.press('Tab');
    if ((await page.evaluate(() => document.activeElement?.textContent)) === 'Entities') break;
  }
  await page.keyboard.press('Enter');
  await page.waitForURL(/\/ui\/entities$/);
  assert.equal(await page.evaluate(() => document.activeElement?.id), 'entities-title', 'focus moves to the view');
});

test('no script error, policy violation or request elsewhere happened', () => {
  assert.deepEqual(faults, []);
});
