// Real-browser tests of the demo page (GET /) and the browser client (GET /presence.js),
// driving Debian's Chromium through playwright-core. The suite starts its own server (a
// fresh SQLite file, dev login on, a 2 s heartbeat and the default 45 s TTL, so a viewer
// who vanishes quickly can only have left through the pagehide beacon).
//
//   PRESENCE_BIN  the server binary (default ../../target/debug/presence)
//   CHROMIUM      the browser (default /usr/bin/chromium)
//
// The demo streams by default (server-sent events, GET /api/presence/stream); `?transport=poll`
// makes it poll instead. The scenarios a to f run on the stream; "live updates" measures
// both paths and checks which requests each one really makes.
//
// Every page of every test is watched: a console error or warning, or an uncaught page
// error, fails the test it happened in. The one exception is Chromium's own network log
// line for the 401 that GET /api/session answers while signed out (and for a refused
// token): the demo has to ask, and the browser notes every 4xx response.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';

const here = path.dirname(fileURLToPath(import.meta.url));
const repoRoot = path.resolve(here, '..', '..');
const artifacts = path.join(repoRoot, 'artifacts');
const BIN = path.resolve(here, process.env.PRESENCE_BIN ?? '../../target/debug/presence');
const CHROMIUM = process.env.CHROMIUM ?? '/usr/bin/chromium';
const TTL_MS = 45000; // the server's default, left as is
const HEARTBEAT_MS = 2000;
// Long enough for a few heartbeats and polls; far below the TTL.
const SEEN_WITHIN = 10000;

// Avatars come from a made-up host that the browser never reaches: every context answers
// it itself (page.route), so the suite stays on loopback.
const AVATAR_HOST = 'https://avatars.example.test';
const AVATAR_SVG = `<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 80 80">
  <defs><linearGradient id="g" x1="0" y1="0" x2="1" y2="1"><stop offset="0" stop-color="#ffd6a5"/><stop offset="1" stop-color="#f4978e"/></linearGradient></defs>
  <rect width="80" height="80" fill="url(#g)"/>
  <circle cx="40" cy="31" r="14" fill="#7a3e2b"/><circle cx="40" cy="34" r="11" fill="#f1c7a5"/>
  <path d="M14 80c2-17 13-26 26-26s24 9 26 26z" fill="#3d5a80"/>
</svg>`;

const ALICE = { id: 'alice', name: 'Alice Martin', role: 'Editor', avatar: `${AVATAR_HOST}/alice.svg` };
const BOB = { id: 'bob', name: 'Bob Okafor' };
const CAROL = { id: 'carol', name: 'Carol Nguyen', role: 'Reviewer' };

let browser;
let server;

// ---- the server -------------------------------------------------------------------------

function freePort() {
  return new Promise((resolve, reject) => {
    const probe = net.createServer();
    probe.unref();
    probe.on('error', reject);
    probe.listen(0, '127.0.0.1', () => {
      const { port } = probe.address();
      probe.close(() => resolve(port));
    });
  });
}

async function startServer({ devLogin }) {
  assert.ok(existsSync(BIN), `no server binary at ${BIN}: run cargo build (or set PRESENCE_BIN)`);
  const port = await freePort();
  const dir = mkdtempSync(path.join(os.tmpdir(), 'presence-browser-'));
  const url = `http://127.0.0.1:${port}`;
  const log = [];
  const proc = spawn(BIN, [], {
    cwd: dir,
    env: {
      ...process.env,
      PRESENCE_LISTEN: `127.0.0.1:${port}`,
      PRESENCE_DATABASE_URL: `sqlite:${path.join(dir, 'presence.db')}`,
      PRESENCE_DEV_LOGIN: String(devLogin),
      PRESENCE_COOKIE_SECURE: 'false',
      PRESENCE_HEARTBEAT_INTERVAL_MS: String(HEARTBEAT_MS),
      PRESENCE_LOG_FORMAT: 'json',
      RUST_LOG: process.env.RUST_LOG ?? 'warn',
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const keep = (chunk) => { log.push(chunk.toString()); if (log.length > 400) log.shift(); };
  proc.stdout.on('data', keep);
  proc.stderr.on('data', keep);
  let exited = null;
  const exit = new Promise((resolve) => proc.on('exit', (code, signal) => { exited = { code, signal }; resolve(); }));

  const deadline = Date.now() + 20000;
  for (;;) {
    if (exited) throw new Error(`the server exited (${JSON.stringify(exited)}) before it was healthy:\n${log.join('')}`);
    try {
      const res = await fetch(`${url}/healthz`, { signal: AbortSignal.timeout(1000) });
      if (res.ok) break;
    } catch { /* not listening yet */ }
    if (Date.now() > deadline) {
      proc.kill('SIGKILL');
      throw new Error(`the server did not answer /healthz within 20 s:\n${log.join('')}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 100));
  }

  return {
    url,
    log,
    async stop() {
      if (!exited) {
        proc.kill('SIGTERM');
        const timer = setTimeout(() => proc.kill('SIGKILL'), 5000);
        await exit;
        clearTimeout(timer);
      }
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

before(async () => {
  server = await startServer({ devLogin: true });
  browser = await chromium.launch({
    executablePath: CHROMIUM,
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
  mkdirSync(artifacts, { recursive: true });
});

after(async () => {
  await browser?.close();
  await server?.stop();
});

// ---- scenes: browser contexts (users) and their pages (tabs), watched -------------------

/** Chromium's network log line for a 401 from /api/session: the demo's signed-out check. */
function isExpectedSignedOut(msg, baseUrl) {
  return msg.type() === 'error'
    && /the server responded with a status of 401/.test(msg.text())
    && msg.location().url === `${baseUrl}/api/session`;
}

class Scene {
  constructor(name, baseUrl = server.url) {
    this.name = name;
    this.baseUrl = baseUrl;
    this.contexts = [];
    this.pages = [];
    this.problems = [];
    this.allowed = [(msg) => isExpectedSignedOut(msg, this.baseUrl)];
  }

  watch(page, label) {
    this.pages.push({ page, label });
    page.on('console', (msg) => {
      if (msg.type() !== 'error' && msg.type() !== 'warning') return;
      if (this.allowed.some((allow) => allow(msg))) return;
      this.problems.push(`[${label}] console.${msg.type()}: ${msg.text()} (${msg.location().url || 'no url'})`);
    });
    page.on('pageerror', (error) => this.problems.push(`[${label}] uncaught: ${error.stack || error.message}`));
  }

  /** A user: a browser context of its own (its own cookie jar). */
  async user(profile, { viewport = { width: 1024, height: 720 } } = {}) {
    const context = await browser.newContext({ baseURL: this.baseUrl, viewport });
    context.setDefaultTimeout(SEEN_WITHIN);
    await context.route(`${AVATAR_HOST}/**`, (route) => route.fulfill({ status: 200, contentType: 'image/svg+xml', body: AVATAR_SVG }));
    this.contexts.push(context);
    let tabs = 0;
    const user = {
      profile,
      context,
      signedIn: false,
      /**
       * A new tab on pagePath; the user's first tab signs in through the demo's dev-login form.
       * transport 'poll' opens the demo with ?transport=poll (default: the stream); before(page)
       * runs before the page loads (to watch its requests from the start, say).
       */
      open: async (pagePath, { transport, before } = {}) => {
        const page = await context.newPage();
        tabs += 1;
        this.watch(page, `${profile.id} tab ${tabs}`);
        if (before) before(page);
        await page.goto(`/?page=${encodeURIComponent(pagePath)}${transport ? `&transport=${transport}` : ''}`);
        if (!user.signedIn) {
          await devSignIn(page, profile);
          user.signedIn = true;
        }
        await waitLive(page);
        return page;
      },
    };
    return user;
  }

  assertClean() {
    assert.deepEqual(this.problems, [], `console errors, warnings or page errors in "${this.name}"`);
  }

  async close(failed) {
    if (failed) {
      const dir = path.join(artifacts, 'failures');
      mkdirSync(dir, { recursive: true });
      for (const { page, label } of this.pages) {
        if (page.isClosed()) continue;
        const file = path.join(dir, `${this.name}-${label}.png`.replace(/[^\w.-]+/g, '_'));
        await page.screenshot({ path: file, fullPage: true }).catch(() => {});
      }
      if (this.problems.length) console.log(this.problems.join('\n'));
    }
    for (const context of this.contexts) await context.close().catch(() => {});
  }
}

/** Runs body with a fresh scene; screenshots every open page when it fails; checks the console. */
async function scene(name, body, baseUrl) {
  const s = new Scene(name, baseUrl);
  let failed = true;
  try {
    await body(s);
    s.assertClean();
    failed = false;
  } finally {
    await s.close(failed);
  }
}

async function devSignIn(page, profile) {
  await page.getByRole('heading', { name: "Sign in to see who's here" }).waitFor();
  await page.getByLabel('User id').fill(profile.id);
  await page.getByLabel('Name', { exact: true }).fill(profile.name);
  if (profile.avatar) await page.getByLabel('Avatar URL').fill(profile.avatar);
  if (profile.role) await page.getByLabel('Role').fill(profile.role);
  await page.getByRole('button', { name: 'Sign in', exact: true }).click();
  // Attached, not visible: on a phone the name in the top bar is for screen readers only.
  await page.getByTestId('signed-in-user').filter({ hasText: profile.name }).waitFor({ state: 'attached' });
}

const waitLive = (page) => page.locator('[data-testid="status"][data-status="live"]').waitFor();

/** The viewer row of userId, optionally only when its data-* attributes say so. */
function viewer(page, userId, attrs = {}) {
  const extra = Object.entries(attrs).map(([k, v]) => `[data-${k}="${v}"]`).join('');
  return page.locator(`[data-testid="viewer"][data-viewer-id="${userId}"]${extra}`);
}

/** Waits until page lists exactly these user ids, in any order. */
async function waitForViewers(page, ids, timeout = SEEN_WITHIN) {
  await page.waitForFunction((want) => {
    const got = [...document.querySelectorAll('[data-testid="viewer"]')].map((li) => li.dataset.viewerId).sort();
    return JSON.stringify(got) === JSON.stringify([...want].sort());
  }, ids, { timeout, polling: 50 });
}

const tabIdOf = (page) => page.getByTestId('tab-id').textContent();

/** Waits until the demo says where its list comes from: 'stream' or 'poll'. */
const waitTransport = (page, transport) =>
  page.locator(`[data-testid="transport"][data-transport="${transport}"]`).waitFor({ state: 'attached' });

/** Every presence API request the page makes, as { path, type, at, prefer, status (once answered) }, from now on. */
function recordRequests(page) {
  const requests = [];
  const byRequest = new Map();
  page.on('request', (request) => {
    const { pathname } = new URL(request.url());
    if (!pathname.startsWith('/api/presence/')) return;
    const entry = { path: pathname, type: request.resourceType(), at: Date.now(), prefer: request.headers().prefer };
    requests.push(entry);
    byRequest.set(request, entry);
  });
  page.on('response', (response) => {
    const entry = byRequest.get(response.request());
    if (entry) entry.status = response.status();
  });
  return {
    all: requests,
    count: (path, since = 0) => requests.filter((r) => r.path === path && r.at >= since).length,
  };
}

/**
 * Notes in the page when each viewer row appears and disappears (Date.now(), the same clock
 * as the test's), as window.__seen[id] = { in, out }: as soon as the demo renders it.
 */
function noteArrivals(page) {
  return page.evaluate(() => {
    const list = document.querySelector('[data-testid="viewers"]');
    const seen = (window.__seen = {});
    const scan = () => {
      const now = Date.now();
      const ids = new Set([...list.querySelectorAll('[data-testid="viewer"]')].map((li) => li.dataset.viewerId));
      for (const id of ids) {
        const entry = (seen[id] ||= {});
        if (!entry.present) Object.assign(entry, { present: true, in: now });
      }
      for (const [id, entry] of Object.entries(seen)) {
        if (entry.present && !ids.has(id)) Object.assign(entry, { present: false, out: now });
      }
    };
    scan();
    new MutationObserver(scan).observe(list, { childList: true, subtree: true, attributes: true });
  });
}

/**
 * When (ms since the epoch) the browser sent the next join request of this user's tabs. (Not
 * its answer: the server tells the other pages before it answers, so they may know first.)
 */
function nextJoinSent(context) {
  return new Promise((resolve) => {
    const onFinished = (request) => {
      if (new URL(request.url()).pathname !== '/api/presence/join') return;
      context.off('requestfinished', onFinished);
      resolve(request.timing().startTime);
    };
    context.on('requestfinished', onFinished);
  });
}

/**
 * Alice comes to (a fresh tab) and goes from (closing it) Bob's page, `rounds` times: how
 * long each takes to show on Bob's page, in ms, from the moment her join is sent and from
 * the moment her tab is closed (the pagehide beacon).
 */
async function comeAndGo(alice, bobPage, pagePath, rounds) {
  await noteArrivals(bobPage);
  const joins = [];
  const leaves = [];
  for (let i = 0; i < rounds; i++) {
    const sent = nextJoinSent(alice.context);
    const page = await alice.open(pagePath);
    const joinedAt = await sent;
    await viewer(bobPage, 'alice').waitFor();
    joins.push((await bobPage.evaluate(() => window.__seen.alice.in)) - joinedAt);
    const closedAt = Date.now();
    await page.close({ runBeforeUnload: true });
    await viewer(bobPage, 'alice').waitFor({ state: 'detached' });
    leaves.push((await bobPage.evaluate(() => window.__seen.alice.out)) - closedAt);
  }
  return { joins, leaves };
}

const ms = (values) => `${values.map((v) => `${Math.round(v)} ms`).join(', ')} (mean ${Math.round(values.reduce((a, b) => a + b, 0) / values.length)} ms)`;

// ---- the tests --------------------------------------------------------------------------

test('a. two users and a second tab: everyone sees both viewers, the tab count and "You"', { timeout: 60000 }, () =>
  scene('a-two-users', async (s) => {
    const pagePath = '/tests/two-users';
    const alice = await s.user(ALICE);
    const bob = await s.user(BOB);
    const a1 = await alice.open(pagePath);
    const b1 = await bob.open(pagePath);
    const a2 = await alice.open(pagePath);

    assert.notEqual(await tabIdOf(a1), await tabIdOf(a2), 'each tab has a tab id of its own');
    for (const page of [a1, a2, b1]) {
      await waitForViewers(page, ['alice', 'bob']);
      await viewer(page, 'alice', { 'tab-count': 2 }).waitFor();
      await viewer(page, 'bob', { 'tab-count': 1 }).waitFor();
      assert.equal(await page.getByTestId('page-path').textContent(), pagePath);
      assert.equal(await page.getByTestId('viewer-count').textContent(), '2 people · 3 tabs');
      // Alice joined first, so she is listed first.
      assert.deepEqual(await page.getByTestId('viewer').evaluateAll((lis) => lis.map((li) => li.dataset.viewerId)), ['alice', 'bob']);
    }

    // Bob's page: Alice with a "2 tabs" badge and her picture; Bob as "You", in initials on his color.
    const aliceOnBob = viewer(b1, 'alice');
    assert.equal(await aliceOnBob.getByTestId('tab-badge').textContent(), '2 tabs');
    assert.ok(await aliceOnBob.getByTestId('tab-badge').isVisible());
    assert.ok(await aliceOnBob.getByTestId('you').isHidden());
    assert.equal(await aliceOnBob.getByTestId('viewer-name').textContent(), 'Alice Martin');
    assert.match(await aliceOnBob.textContent(), /Editor/);
    const img = aliceOnBob.getByRole('img', { name: 'Alice Martin' });
    assert.equal(await img.getAttribute('src'), ALICE.avatar);
    await b1.waitForFunction((el) => el.complete && el.naturalWidth > 0, await img.elementHandle(), { timeout: SEEN_WITHIN });
    const bobOnBob = viewer(b1, 'bob');
    assert.ok(await bobOnBob.getByTestId('you').isVisible());
    assert.ok(await bobOnBob.getByTestId('tab-badge').isHidden(), 'no badge for a single tab');
    assert.equal(await bobOnBob.locator('.avatar').textContent(), 'BO');
    assert.equal(await bobOnBob.locator('img').count(), 0);
    assert.match(await bobOnBob.locator('.avatar').evaluate((el) => getComputedStyle(el).backgroundColor), /^rgb\(/);

    // Alice's pages: "You" on herself, not on Bob.
    for (const page of [a1, a2]) {
      assert.ok(await viewer(page, 'alice').getByTestId('you').isVisible());
      assert.ok(await viewer(page, 'bob').getByTestId('you').isHidden());
      assert.ok(await viewer(page, 'alice').getByTestId('tab-badge').isVisible());
    }
  }));

test('a name and a role that are markup are shown as text and never run', { timeout: 60000 }, () =>
  scene('hostile-profile', async (s) => {
    const pagePath = '/tests/hostile-profile';
    const mallory = { id: 'mallory', name: '<img src=x onerror="window.__pwned=1">', role: '<b>Admin</b>' };
    await (await s.user(mallory)).open(pagePath);
    const b1 = await (await s.user(BOB)).open(pagePath);
    await waitForViewers(b1, ['mallory', 'bob']);
    const shown = viewer(b1, 'mallory');
    assert.equal(await shown.getByTestId('viewer-name').textContent(), mallory.name);
    assert.match(await shown.textContent(), /<b>Admin<\/b>/);
    assert.equal(await shown.locator('img[src="x"], b').count(), 0, 'no element was made of the profile');
    assert.equal(await b1.evaluate(() => window.__pwned), undefined, 'no script ran');
  }));

test('b. closing tabs: the pagehide beacon removes them well before the TTL', { timeout: 120000 }, () =>
  scene('b-close-tabs', async (s) => {
    const pagePath = '/tests/close-tabs';
    const alice = await s.user(ALICE);
    const bob = await s.user(BOB);
    const a1 = await alice.open(pagePath);
    const a2 = await alice.open(pagePath);
    const b1 = await bob.open(pagePath);
    await viewer(b1, 'alice', { 'tab-count': 2 }).waitFor();
    const snapshot = await b1.evaluate(async (p) => (await fetch(`/api/presence/list?pagePath=${encodeURIComponent(p)}`)).json(), pagePath);
    assert.equal(snapshot.ttlMs, TTL_MS, 'the server runs with the default TTL');
    assert.equal(snapshot.heartbeatIntervalMs, HEARTBEAT_MS);

    // One of two tabs goes: Alice stays, with one tab.
    let start = Date.now();
    await a2.close({ runBeforeUnload: true });
    await viewer(b1, 'alice', { 'tab-count': 1 }).waitFor({ timeout: TTL_MS });
    const oneTab = Date.now() - start;
    console.log(`closed tab vanished after ${oneTab} ms (Alice's second tab; her count on Bob's page went 2 -> 1)`);
    assert.ok(await viewer(b1, 'alice').getByTestId('tab-badge').isHidden());
    assert.ok(oneTab < TTL_MS, `took ${oneTab} ms, not under the ${TTL_MS} ms TTL`);

    // Her last tab goes: she is gone from Bob's page.
    start = Date.now();
    await a1.close({ runBeforeUnload: true });
    await viewer(b1, 'alice').waitFor({ state: 'detached', timeout: TTL_MS });
    const lastTab = Date.now() - start;
    console.log(`closed tab vanished after ${lastTab} ms (Alice's last tab; she left Bob's page)`);
    assert.ok(lastTab < TTL_MS, `took ${lastTab} ms, not under the ${TTL_MS} ms TTL`);
    await waitForViewers(b1, ['bob']);
    assert.equal(await b1.getByTestId('viewer-count').textContent(), '1 person · 1 tab');
  }));

test('c. Edit puts the editor ring on the editor for everyone, and takes it off again', { timeout: 60000 }, () =>
  scene('c-edit', async (s) => {
    const pagePath = '/tests/edit';
    const alice = await s.user(ALICE);
    const bob = await s.user(BOB);
    const a1 = await alice.open(pagePath);
    const b1 = await bob.open(pagePath);
    await waitForViewers(b1, ['alice', 'bob']);
    await viewer(b1, 'alice', { editor: false }).waitFor();
    assert.ok(await b1.getByTestId('editor-banner').isHidden());

    const toggle = a1.getByTestId('edit-toggle');
    assert.equal(await toggle.getAttribute('aria-pressed'), 'false');
    await toggle.click();
    assert.equal(await toggle.getAttribute('aria-pressed'), 'true');
    await viewer(a1, 'alice', { editor: true, editing: true }).waitFor();
    await viewer(b1, 'alice', { editor: true, editing: true }).waitFor();
    await viewer(b1, 'bob', { editor: false }).waitFor();
    // The ring is really drawn (a box-shadow) and said in words too.
    const ring = await viewer(b1, 'alice').locator('.avatar').evaluate((el) => getComputedStyle(el).boxShadow);
    assert.notEqual(ring, 'none');
    assert.ok(await viewer(b1, 'alice').getByTestId('editing-badge').isVisible());
    await b1.getByTestId('editor-banner').filter({ hasText: 'Alice Martin is editing this page.' }).waitFor();
    assert.equal(await b1.getByTestId('edit-toggle').getAttribute('aria-pressed'), 'false', "Bob's own toggle is untouched");

    await toggle.click();
    assert.equal(await toggle.getAttribute('aria-pressed'), 'false');
    await viewer(b1, 'alice', { editor: false, editing: false }).waitFor();
    await viewer(a1, 'alice', { editor: false }).waitFor();
    assert.equal(await viewer(b1, 'alice').locator('.avatar').evaluate((el) => getComputedStyle(el).boxShadow), 'none');
    await b1.getByTestId('editor-banner').waitFor({ state: 'hidden' });
  }));

test('d. a reload keeps the tab id, and the viewer stays listed once with the same tab count', { timeout: 60000 }, () =>
  scene('d-reload', async (s) => {
    const pagePath = '/tests/reload';
    const alice = await s.user(ALICE);
    const bob = await s.user(BOB);
    const a1 = await alice.open(pagePath);
    const b1 = await bob.open(pagePath);
    await waitForViewers(a1, ['alice', 'bob']);
    await viewer(b1, 'alice', { 'tab-count': 1 }).waitFor();
    const before = await tabIdOf(a1);
    assert.match(before, /^[A-Za-z0-9_-]{1,64}$/);

    await a1.reload();
    await waitLive(a1);
    assert.equal(await tabIdOf(a1), before, 'the tab id survives a reload (sessionStorage)');
    assert.equal(await a1.getByTestId('page-path').textContent(), pagePath, 'the page survives a reload (?page=)');
    for (const page of [a1, b1]) {
      await waitForViewers(page, ['alice', 'bob']);
      await viewer(page, 'alice', { 'tab-count': 1 }).waitFor();
      assert.equal(await viewer(page, 'alice').count(), 1);
    }
    // And the server agrees: one tab of Alice, not an old one plus a new one. (The order may
    // change: the reload's pagehide beacon left, the new page joined again, later than Bob.)
    const list = await b1.evaluate(async (p) => (await fetch(`/api/presence/list?pagePath=${encodeURIComponent(p)}`)).json(), pagePath);
    assert.deepEqual(list.viewers.map((v) => [v.id, v.tabCount]).sort(), [['alice', 1], ['bob', 1]]);
    assert.equal(list.tabCount, 2);
  }));

test('f. screenshot: three viewers, one editing, one with two tabs (desktop and 360 px)', { timeout: 60000 }, () =>
  scene('f-screenshot', async (s) => {
    const pagePath = '/docs/guide';
    const alice = await s.user(ALICE);
    const bob = await s.user(BOB, { viewport: { width: 1024, height: 640 } });
    const carol = await s.user(CAROL);
    await alice.open(pagePath);
    const b1 = await bob.open(pagePath);
    const c1 = await carol.open(pagePath);
    await alice.open(pagePath);
    await c1.getByTestId('edit-toggle').click();

    await waitForViewers(b1, ['alice', 'bob', 'carol']);
    await viewer(b1, 'alice', { 'tab-count': 2 }).waitFor();
    await viewer(b1, 'carol', { editor: true }).waitFor();
    await b1.getByTestId('editor-banner').filter({ hasText: 'Carol Nguyen is editing' }).waitFor();
    await b1.waitForFunction(() => [...document.images].every((img) => img.complete && img.naturalWidth > 0), null, { timeout: SEEN_WITHIN });
    assert.equal(await b1.getByTestId('viewer-count').textContent(), '3 people · 4 tabs');
    // The preset of the current page is marked as such.
    assert.equal(await b1.getByRole('button', { name: '/docs/guide' }).getAttribute('aria-pressed'), 'true');

    const shot = path.join(artifacts, 'demo-three-viewers.png');
    await b1.screenshot({ path: shot, fullPage: true });
    console.log(`screenshot: ${path.relative(repoRoot, shot)}`);

    // A phone: nothing sticks out sideways.
    await b1.setViewportSize({ width: 360, height: 740 });
    const overflow = await b1.evaluate(() => document.documentElement.scrollWidth - document.documentElement.clientWidth);
    assert.equal(overflow, 0, 'no horizontal scrolling at 360 px');
    const narrow = path.join(artifacts, 'demo-three-viewers-360.png');
    await b1.screenshot({ path: narrow, fullPage: true });
    console.log(`screenshot: ${path.relative(repoRoot, narrow)}`);
  }));

test('page picker: presets and a typed path move the tab; others see it leave', { timeout: 60000 }, () =>
  scene('picker', async (s) => {
    const alice = await s.user(ALICE);
    const bob = await s.user(BOB);
    const a1 = await alice.open('/docs/intro');
    const b1 = await bob.open('/docs/intro');
    await waitForViewers(b1, ['alice', 'bob']);
    assert.equal(await a1.getByRole('button', { name: '/docs/intro' }).getAttribute('aria-pressed'), 'true');

    // A preset: Alice leaves /docs/intro for /blog.
    await a1.getByRole('button', { name: '/blog' }).click();
    await a1.getByTestId('page-path').filter({ hasText: /^\/blog$/ }).waitFor();
    await waitLive(a1);
    await waitForViewers(a1, ['alice']);
    assert.equal(await a1.getByRole('button', { name: '/blog' }).getAttribute('aria-pressed'), 'true');
    assert.equal(await a1.getByRole('button', { name: '/docs/intro' }).getAttribute('aria-pressed'), 'false');
    assert.equal(new URL(a1.url()).searchParams.get('page'), '/blog');
    await waitForViewers(b1, ['bob']);

    // A typed path is checked first, then normalized by the server.
    const input = a1.getByLabel('Other page path');
    await input.fill('docs/intro');
    await a1.getByRole('button', { name: 'Go', exact: true }).click();
    await a1.getByTestId('page-error').filter({ hasText: 'starts with "/"' }).waitFor();
    assert.equal(await input.getAttribute('aria-invalid'), 'true');
    await input.fill('/docs//intro/');
    await input.press('Enter');
    await a1.getByTestId('page-path').filter({ hasText: /^\/docs\/intro$/ }).waitFor();
    assert.equal(await a1.getByTestId('page-error').textContent(), '');
    await waitForViewers(b1, ['alice', 'bob']);
    await waitForViewers(a1, ['alice', 'bob']);

    // Back goes back to /blog.
    await a1.goBack();
    await a1.getByTestId('page-path').filter({ hasText: /^\/blog$/ }).waitFor();
    await waitForViewers(b1, ['bob']);
  }));

test('sign-in errors show the problem detail; sign out leaves the page and the session', { timeout: 60000 }, () =>
  scene('sign-in-out', async (s) => {
    const pagePath = '/tests/sign-out';
    const bob = await s.user(BOB);
    const b1 = await bob.open(pagePath);
    const carol = await s.user(CAROL, { viewport: { width: 360, height: 740 } });
    const c1 = await carol.context.newPage();
    s.watch(c1, 'carol tab 1');
    await c1.goto(`/?page=${encodeURIComponent(pagePath)}`);
    await c1.getByRole('heading', { name: "Sign in to see who's here" }).waitFor();
    const overflow = await c1.evaluate(() => document.documentElement.scrollWidth - document.documentElement.clientWidth);
    assert.equal(overflow, 0, 'the sign-in forms fit 360 px');

    // A token that is not a JWT: the server's problem detail is shown.
    await c1.getByLabel('Token', { exact: true }).fill('not-a-jwt');
    await c1.getByRole('button', { name: 'Sign in with token' }).click();
    const tokenError = c1.getByTestId('token-error');
    await tokenError.filter({ hasText: /\S/ }).waitFor();
    const detail = await c1.evaluate(async () => (await (await fetch('/api/session', { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: '{"token":"not-a-jwt"}' })).json()).detail);
    assert.ok(detail, 'the server explains the 401');
    assert.equal(await tokenError.textContent(), detail);

    // The demo's own checks, before anything is sent.
    await c1.getByLabel('User id').fill('carol');
    await c1.getByRole('button', { name: 'Sign in', exact: true }).click();
    await c1.getByTestId('dev-error').filter({ hasText: 'Enter a name' }).waitFor();

    await devSignIn(c1, CAROL);
    carol.signedIn = true;
    await waitLive(c1);
    await waitForViewers(b1, ['bob', 'carol']);
    // A second tab of Carol's, elsewhere: it will lose its session when tab 1 signs out.
    const c2 = await carol.open('/tests/elsewhere');

    // Sign out: Carol's tab leaves at once, and the session is gone.
    await c1.getByRole('button', { name: 'Sign out' }).click();
    await c1.getByRole('heading', { name: "Sign in to see who's here" }).waitFor();
    await c1.getByText('You are signed out.').waitFor();
    assert.equal(await c1.evaluate(() => document.activeElement.id), 'dev-id', 'focus lands on the sign-in form');
    await waitForViewers(b1, ['bob']);
    assert.equal(await c1.evaluate(async () => (await fetch('/api/session')).status), 401);

    // The other tab finds out at its next request (a 401 the browser logs: expected here).
    s.allowed.push((msg) => /status of 401/.test(msg.text()) && msg.location().url.startsWith(`${s.baseUrl}/api/presence/`));
    await c2.getByText('Your session has ended. Sign in again to rejoin the page.').waitFor();
    await c2.getByRole('heading', { name: "Sign in to see who's here" }).waitFor();

    // Reloading stays signed out; the form works again.
    await c1.reload();
    await devSignIn(c1, CAROL);
    await waitLive(c1);
    await waitForViewers(b1, ['bob', 'carol']);
  }));

test('dev login switched off: the form says so and points at the token field', { timeout: 60000 }, async () => {
  const off = await startServer({ devLogin: false });
  try {
    await scene('dev-login-off', async (s) => {
      const dana = await s.user({ id: 'dana', name: 'Dana' });
      const page = await dana.context.newPage();
      s.watch(page, 'dana tab 1');
      await page.goto('/');
      await page.getByLabel('User id').fill('dana');
      await page.getByLabel('Name', { exact: true }).fill('Dana');
      // The 404 is the point here; the browser logs it as a failed resource.
      s.allowed.push((msg) => /status of 404/.test(msg.text()) && msg.location().url === `${off.url}/api/session/dev`);
      await page.getByRole('button', { name: 'Sign in', exact: true }).click();
      await page.getByTestId('dev-error').filter({ hasText: 'Dev login is disabled' }).waitFor();
      assert.match(await page.getByTestId('dev-error').textContent(), /Paste a token/);
      assert.equal(await page.evaluate(() => document.activeElement.id), 'token-input');
    }, off.url);
  } finally {
    await off.stop();
  }
});

test('live updates: the stream by default, polling with ?transport=poll; both carry joins and leaves', { timeout: 60000 }, () =>
  scene('live-updates', async (s) => {
    const ROUNDS = 3;
    const alice = await s.user(ALICE);
    const bob = await s.user(BOB);

    // The stream (the default).
    let sseRequests;
    const sse = await bob.open('/tests/live-sse', { before: (page) => { sseRequests = recordRequests(page); } });
    await waitTransport(sse, 'stream');
    const streamingSince = Date.now();
    assert.equal(await sse.getByTestId('transport').textContent(), 'Updates streamed (server-sent events)');
    const viaStream = await comeAndGo(alice, sse, '/tests/live-sse', ROUNDS);
    await new Promise((resolve) => setTimeout(resolve, HEARTBEAT_MS + 500)); // at least one more heartbeat
    await waitTransport(sse, 'stream');
    console.log(`stream: a join shows on the other page after ${ms(viaStream.joins)}; a leave (tab closed) after ${ms(viaStream.leaves)}`);

    // Polling, forced by the page's URL.
    let pollRequests;
    const poll = await bob.open('/tests/live-poll', { transport: 'poll', before: (page) => { pollRequests = recordRequests(page); } });
    await waitTransport(poll, 'poll');
    assert.equal(await poll.getByTestId('transport').textContent(), 'Updates by polling');
    const viaPolls = await comeAndGo(alice, poll, '/tests/live-poll', ROUNDS);
    console.log(`polling (heartbeat ${HEARTBEAT_MS} ms, a poll half-way): a join shows after ${ms(viaPolls.joins)}; a leave after ${ms(viaPolls.leaves)}`);

    // The stream page opened one stream, after its join, and polled nothing once it was live;
    // its heartbeats went on. The polling page opened no stream and polled.
    const streamPage = sseRequests.all;
    assert.equal(sseRequests.count('/api/presence/stream'), 1, `one stream: ${JSON.stringify(streamPage)}`);
    assert.deepEqual(streamPage.slice(0, 2).map((r) => r.path), ['/api/presence/join', '/api/presence/stream']);
    assert.equal(sseRequests.count('/api/presence/list', streamingSince), 0, `no polls while streaming: ${JSON.stringify(streamPage)}`);
    assert.ok(sseRequests.count('/api/presence/heartbeat') >= 3, `heartbeats go on while streaming: ${JSON.stringify(streamPage)}`);
    assert.equal(pollRequests.count('/api/presence/stream'), 0, 'no stream with ?transport=poll');
    assert.ok(pollRequests.count('/api/presence/list') >= 2, `the polling page polls: ${JSON.stringify(pollRequests.all)}`);
    assert.ok(pollRequests.count('/api/presence/heartbeat') >= 2);
    // While streaming, heartbeats ask for `Prefer: return=minimal` and get 204 (those already
    // answered); the polling page's get the snapshot.
    const beats = (recorded, since = 0) => recorded.all.filter((r) => r.path === '/api/presence/heartbeat' && r.at >= since);
    const minimal = beats(sseRequests, streamingSince);
    assert.ok(minimal.every((r) => r.prefer === 'return=minimal' && [undefined, 204].includes(r.status)), JSON.stringify(minimal));
    assert.ok(minimal.some((r) => r.status === 204), JSON.stringify(minimal));
    assert.ok(beats(pollRequests).every((r) => r.prefer === undefined && [undefined, 200].includes(r.status)), JSON.stringify(pollRequests.all));

    // The stream is the quicker path: well under the poll's half-interval, every time.
    for (const t of [...viaStream.joins, ...viaStream.leaves]) assert.ok(t < HEARTBEAT_MS / 2, `the stream took ${t} ms`);
    for (const t of [...viaPolls.joins, ...viaPolls.leaves]) assert.ok(t < SEEN_WITHIN, `polling took ${t} ms`);
  }));

test('the stream is opened, with credentials, and is the only source of the list while it is open', { timeout: 30000 }, () =>
  scene('stream-request', async (s) => {
    const bob = await s.user(BOB);
    const page = await bob.context.newPage();
    s.watch(page, 'bob tab 1');
    const requests = recordRequests(page);
    const streams = [];
    page.on('request', (request) => { if (request.url().includes('/api/presence/stream')) streams.push(request); });
    await page.goto('/?page=%2Ftests%2Fstream%20request');
    await devSignIn(page, BOB);
    await waitLive(page);
    await waitTransport(page, 'stream');
    assert.equal(streams.length, 1);
    const [stream] = streams;
    assert.equal(stream.resourceType(), 'eventsource');
    assert.equal(stream.url(), `${s.baseUrl}/api/presence/stream?pagePath=%2Ftests%2Fstream%20request`);
    const headers = await stream.allHeaders();
    assert.match(headers.accept ?? '', /text\/event-stream/);
    assert.ok(headers.cookie, 'the session cookie goes with it');
    // It came after the first join's answer.
    const firstJoin = requests.all.find((r) => r.path === '/api/presence/join');
    assert.ok(firstJoin && firstJoin.at <= requests.all.find((r) => r.path === '/api/presence/stream').at);
    const response = await stream.response();
    assert.equal(response.status(), 200);
    assert.match(response.headers()['content-type'], /^text\/event-stream/);
    await waitForViewers(page, ['bob']);
  }));

test('a stream the server refuses: the page polls meanwhile, then streams once it can', { timeout: 30000 }, () =>
  scene('stream-fallback', async (s) => {
    const pagePath = '/tests/stream-fallback';
    const alice = await s.user(ALICE);
    const bob = await s.user(BOB);
    // Bob's first two streams get a 503 (a proxy, say); the third one goes through.
    let refused = 0;
    await bob.context.route('**/api/presence/stream?*', (route) => {
      if (refused >= 2) return route.continue();
      refused += 1;
      return route.fulfill({ status: 503, contentType: 'application/problem+json', body: '{"status":503,"title":"Service Unavailable"}' });
    });
    // The browser logs each refused stream ("Failed to load resource: … 503"): the point here.
    s.allowed.push((msg) => /status of 503/.test(msg.text()) && msg.location().url.startsWith(`${s.baseUrl}/api/presence/stream?`));
    let requests;
    const b1 = await bob.open(pagePath, { before: (page) => { requests = recordRequests(page); } });
    assert.equal(await b1.getByTestId('transport').getAttribute('data-transport'), 'poll');
    // While the stream is refused, polls bring Alice.
    await alice.open(pagePath);
    await waitForViewers(b1, ['alice', 'bob']);
    await waitTransport(b1, 'stream');
    assert.equal(refused, 2);
    const streamingSince = Date.now();
    assert.ok(requests.count('/api/presence/list') >= 1, `polled while the stream was refused: ${JSON.stringify(requests.all)}`);
    assert.equal(requests.count('/api/presence/stream'), 3, 'three tries: two refused, one open');
    // From now on the stream carries it: Alice editing shows without a poll.
    await alice.context.pages()[0].getByTestId('edit-toggle').click();
    await viewer(b1, 'alice', { editor: true }).waitFor();
    assert.equal(requests.count('/api/presence/list', streamingSince), 0);
  }));

