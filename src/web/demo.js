// The demo page's script: sign in, pick a page, and watch who else is here, through /presence.js.
import { createPresence } from '/presence.js';

const DEFAULT_PAGE = '/docs/intro';
const STATUS_TEXT = { connecting: 'Connecting…', live: 'Live', offline: 'Offline, retrying', error: 'Refused', unauthorized: 'Signed out', stopped: 'Stopped' };
const TRANSPORT_TEXT = { stream: 'Updates streamed (server-sent events)', poll: 'Updates by polling' };
// ?transport=poll forces polling (to compare with the default, the stream).
const TRANSPORT = new URLSearchParams(location.search).get('transport') === 'poll' ? 'poll' : 'auto';
const $ = (id) => document.getElementById(id);

let presence = null;
let unsubscribe = null;
let lastState = null;
const rows = new Map();        // viewer id -> its <li> and parts, reused between renders
const brokenAvatars = new Set(); // avatar URLs that failed to load: show initials instead

// ---- HTTP ------------------------------------------------------------------------------

async function api(method, url, body) {
  const init = { method, credentials: 'same-origin', headers: { Accept: 'application/json, application/problem+json' } };
  if (body !== undefined) {
    init.headers['Content-Type'] = 'application/json';
    init.body = JSON.stringify(body);
  }
  let res;
  try {
    res = await fetch(url, init);
  } catch {
    throw new Error('Could not reach the presence server. Is it running?');
  }
  let data = null;
  if (res.status !== 204 && /json/i.test(res.headers.get('Content-Type') || '')) {
    data = await res.json().catch(() => null);
  }
  return { res, data };
}

/** The person-readable text of an RFC 9457 problem (detail, plus each field error). */
function problemText(res, data) {
  if (data && typeof data === 'object') {
    const parts = [];
    if (typeof data.detail === 'string' && data.detail) parts.push(data.detail);
    if (Array.isArray(data.errors)) {
      for (const e of data.errors) {
        const line = `${e.field}: ${e.message}`;
        if (!parts.some((p) => p.includes(line))) parts.push(line);
      }
    }
    if (parts.length) return parts.join(' · ');
    if (typeof data.title === 'string') return data.title;
  }
  return `The server answered ${res.status} ${res.statusText}`.trim();
}

// ---- Views -----------------------------------------------------------------------------

function showView(name) {
  $('loading-view').hidden = name !== 'loading';
  $('signin-view').hidden = name !== 'signin';
  $('app-view').hidden = name !== 'app';
  $('me').hidden = name !== 'app';
}

function showSignIn(notice) {
  stopPresence();
  showView('signin');
  document.title = 'Sign in · presence';
  const box = $('signin-notice');
  box.textContent = notice || '';
  box.hidden = !notice;
  // After a sign-out (or a lost session) focus was on something now hidden: bring it here.
  if (notice) $('dev-id').focus();
}

function showApp(user) {
  showView('app');
  $('me-name').textContent = user.name || user.id;
  $('me-avatar').title = user.name || user.id;
  $('me-role').textContent = user.role || user.id;
  setAvatar($('me-avatar'), { name: user.name || user.id, avatar: user.avatar, color: null }, { decorative: true });
  startPresence(pageFromUrl());
}

// ---- Sign in and out ---------------------------------------------------------------------

function busy(form, on) {
  for (const el of form.querySelectorAll('button, input, textarea')) el.disabled = on;
  form.setAttribute('aria-busy', String(on));
}

$('dev-form').addEventListener('submit', async (event) => {
  event.preventDefault();
  const form = event.currentTarget;
  const error = $('dev-error');
  error.textContent = '';
  const id = $('dev-id').value.trim();
  const name = $('dev-name').value.trim();
  const avatar = $('dev-avatar').value.trim();
  const role = $('dev-role').value.trim();
  if (!id) { error.textContent = 'Enter a user id, like alice.'; $('dev-id').focus(); return; }
  if (!name) { error.textContent = 'Enter a name to show to others.'; $('dev-name').focus(); return; }
  if (avatar && !/^https?:\/\/\S+$/i.test(avatar)) { error.textContent = 'The avatar must be an http:// or https:// URL.'; $('dev-avatar').focus(); return; }
  const body = { id, name };
  if (avatar) body.avatar = avatar;
  if (role) body.role = role;
  busy(form, true);
  try {
    const { res, data } = await api('POST', '/api/session/dev', body);
    if (res.ok && data && data.user) { form.reset(); busy(form, false); showApp(data.user); return; }
    if (res.status === 404) {
      error.textContent = 'Dev login is disabled on this server (PRESENCE_DEV_LOGIN is not true). Paste a token signed by your app instead.';
      busy(form, false);
      $('token-input').focus();
      return;
    }
    error.textContent = problemText(res, data);
  } catch (e) {
    error.textContent = e.message;
  }
  busy(form, false);
});

$('token-form').addEventListener('submit', async (event) => {
  event.preventDefault();
  const form = event.currentTarget;
  const error = $('token-error');
  error.textContent = '';
  const token = $('token-input').value.trim();
  if (!token) { error.textContent = 'Paste a JWT first.'; $('token-input').focus(); return; }
  busy(form, true);
  try {
    const { res, data } = await api('POST', '/api/session', { token });
    if (res.ok && data && data.user) { form.reset(); busy(form, false); showApp(data.user); return; }
    error.textContent = problemText(res, data);
  } catch (e) {
    error.textContent = e.message;
  }
  busy(form, false);
});

$('sign-out').addEventListener('click', async () => {
  const button = $('sign-out');
  button.disabled = true;
  const last = presence && presence.state;
  stopPresence(); // sends the leave beacon
  try {
    // Leave once more, awaited, so the tab is gone before the session is (the beacon is
    // fire-and-forget). Leaving twice is harmless: leave is idempotent.
    if (last && last.status === 'live') {
      await api('POST', '/api/presence/leave', { pagePath: last.pagePath, tabId: last.tabId });
    }
    await api('DELETE', '/api/session');
    button.disabled = false;
    showSignIn('You are signed out.');
  } catch (e) {
    button.disabled = false;
    showSignIn(e.message);
  }
});

// ---- Pages -----------------------------------------------------------------------------

/** Why a page path would be refused, mirroring the server's rules; '' when it is fine. */
function pathProblem(path) {
  if (!path.startsWith('/')) return 'A page path starts with "/", like /docs/intro.';
  if (/[?#]/.test(path)) return 'A page path has no "?" query or "#" fragment.';
  if (/[\u0000-\u001f\u007f-\u009f]/.test(path)) return 'A page path has no control characters.';
  if (path.split('/').some((s) => s === '.' || s === '..')) return 'A page path has no "." or ".." segments.';
  if (new TextEncoder().encode(path).length > 512) return 'A page path is at most 512 bytes.';
  return '';
}

function pageFromUrl() {
  const page = new URLSearchParams(location.search).get('page');
  return page && !pathProblem(page) ? page : DEFAULT_PAGE;
}

function goTo(path, { push = true } = {}) {
  const problem = pathProblem(path);
  $('page-error').textContent = problem;
  $('page-input').setAttribute('aria-invalid', String(!!problem));
  if (problem) return false;
  if (push) {
    const url = new URL(location.href);
    url.searchParams.set('page', path);
    if (url.href !== location.href) history.pushState(null, '', url);
  }
  if (presence) presence.setPagePath(path);
  return true;
}

$('presets').addEventListener('click', (event) => {
  const button = event.target.closest('button[data-path]');
  if (button) goTo(button.dataset.path);
});

$('page-form').addEventListener('submit', (event) => {
  event.preventDefault();
  const input = $('page-input');
  const path = input.value.trim();
  if (!path) { $('page-error').textContent = 'Type a page path, like /docs/faq.'; input.focus(); return; }
  if (goTo(path)) input.value = '';
  else input.focus();
});

addEventListener('popstate', () => { if (presence) goTo(pageFromUrl(), { push: false }); });

// ---- Presence ----------------------------------------------------------------------------

function startPresence(pagePath) {
  stopPresence();
  lastState = null;
  presence = createPresence({ pagePath, transport: TRANSPORT });
  $('tab-id').textContent = presence.tabId;
  unsubscribe = presence.subscribe(render);
}

function stopPresence() {
  if (unsubscribe) unsubscribe();
  unsubscribe = null;
  if (presence) presence.stop();
  presence = null;
  for (const row of rows.values()) row.li.remove();
  rows.clear();
}

$('edit-toggle').addEventListener('click', () => {
  if (presence) presence.setEditing(!presence.isEditing);
});

function render(state) {
  const previous = lastState;
  lastState = state;
  if (state.status === 'unauthorized') {
    // The session is gone (signed out elsewhere, expired, or the server restarted).
    queueMicrotask(() => showSignIn('Your session has ended. Sign in again to rejoin the page.'));
    return;
  }
  // The server's answer names the page as it normalized it; until then, the path we asked for.
  const path = state.snapshot ? state.snapshot.pagePath : state.pagePath;
  renderPage(path);
  renderStatus(state);

  const viewers = state.viewers || [];
  const me = viewers.find((v) => v.isCurrentUser);
  if (me) setAvatar($('me-avatar'), me, { decorative: true });
  renderViewers(viewers, state.editorUserId);
  renderFacepile(viewers, state.editorUserId);
  renderBanner(viewers, state.editorUserId);
  renderCounts(state, viewers);

  const n = viewers.length;
  document.title = n ? `${path} · ${n} here · presence` : `${path} · presence`;
  announce(previous, state);
}

/** The page shown: its path, and which preset is pressed. */
function renderPage(path) {
  $('page-path').textContent = path;
  for (const button of document.querySelectorAll('#presets button[data-path]')) {
    button.setAttribute('aria-pressed', String(button.dataset.path === path));
  }
}

/** The connection's status and transport, the tab id, the Edit toggle and the last error. */
function renderStatus(state) {
  const status = $('status');
  status.dataset.status = state.status;
  $('status-text').textContent = STATUS_TEXT[state.status] || state.status;
  const transport = $('transport');
  transport.dataset.transport = state.transport;
  transport.textContent = state.status === 'live' ? TRANSPORT_TEXT[state.transport] || '' : '';
  $('tab-id').textContent = state.tabId;
  $('edit-toggle').setAttribute('aria-pressed', String(!!state.isEditing));
  $('presence-error').textContent = errorText(state);
}

/** What went wrong, while offline (retrying) or refused; '' otherwise. */
function errorText(state) {
  const err = (state.status === 'offline' || state.status === 'error') && state.error;
  if (!err) return '';
  if (err.problem) return problemText({ status: err.status, statusText: '' }, err.problem);
  return state.status === 'error' ? `The server answered ${err.status}.` : 'Cannot reach the presence server; retrying.';
}

/** How many people and tabs are here, and, when nobody is listed, why. */
function renderCounts(state, viewers) {
  const snap = state.snapshot;
  const count = $('viewer-count');
  if (snap) {
    const people = `${snap.viewerCount} ${snap.viewerCount === 1 ? 'person' : 'people'}`;
    const tabs = `${snap.tabCount} ${snap.tabCount === 1 ? 'tab' : 'tabs'}`;
    count.textContent = `${people} · ${tabs}`;
  } else {
    count.textContent = '';
  }
  const empty = $('viewers-empty');
  empty.hidden = viewers.length > 0;
  empty.textContent = state.status === 'connecting' ? 'Joining the page…'
    : state.status === 'offline' ? 'Waiting for the server…'
    : state.status === 'error' ? 'The server refused this page.' : 'Nobody is here yet.';
}

function renderViewers(viewers, editorUserId) {
  const list = $('viewers');
  viewers.forEach((viewer, index) => {
    let row = rows.get(viewer.id);
    if (!row) {
      row = makeRow();
      rows.set(viewer.id, row);
    }
    updateRow(row, viewer, editorUserId);
    if (list.children[index] !== row.li) list.insertBefore(row.li, list.children[index] || null);
  });
  const ids = new Set(viewers.map((v) => v.id));
  for (const [id, row] of rows) {
    if (!ids.has(id)) { row.li.remove(); rows.delete(id); }
  }
}

function el(tag, className, attrs) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (attrs) for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, v);
  return node;
}

function makeRow() {
  const li = el('li', 'viewer', { 'data-testid': 'viewer' });
  const avatar = el('span', 'avatar');
  const who = el('div', 'who');
  const line = el('div', 'who-line');
  const name = el('span', 'name', { 'data-testid': 'viewer-name' });
  const you = el('span', 'tag', { 'data-testid': 'you' });
  you.textContent = 'You';
  line.append(name, you);
  const meta = el('span', 'meta');
  who.append(line, meta);
  const badges = el('div', 'badges');
  const tabs = el('span', 'badge', { 'data-testid': 'tab-badge' });
  const editing = el('span', 'badge editing', { 'data-testid': 'editing-badge' });
  editing.innerHTML = '<svg width="12" height="12" viewBox="0 0 24 24" fill="none" stroke="currentColor" stroke-width="2.4" stroke-linecap="round" stroke-linejoin="round" aria-hidden="true"><path d="M12 20h9"/><path d="M16.5 3.5a2.1 2.1 0 0 1 3 3L7 19l-4 1 1-4Z"/></svg>';
  editing.append('Editing');
  badges.append(tabs, editing);
  li.append(avatar, who, badges);
  return { li, avatar, name, you, meta, tabs, editing };
}

function updateRow(row, viewer, editorUserId) {
  const isEditor = viewer.id === editorUserId;
  const li = row.li;
  li.dataset.viewerId = viewer.id;
  li.dataset.editor = String(isEditor);
  li.dataset.editing = String(!!viewer.isEditing);
  li.dataset.tabCount = String(viewer.tabCount);
  li.dataset.current = String(!!viewer.isCurrentUser);
  setAvatar(row.avatar, viewer, { ring: isEditor });
  row.name.textContent = viewer.name;
  row.name.title = viewer.name;
  row.you.hidden = !viewer.isCurrentUser;
  const since = formatTime(viewer.joinedAt);
  row.meta.textContent = [viewer.role, since && `here since ${since}`].filter(Boolean).join(' · ');
  row.tabs.hidden = !(viewer.tabCount > 1);
  row.tabs.textContent = `${viewer.tabCount} tabs`;
  row.editing.hidden = !viewer.isEditing;
  row.editing.lastChild.textContent = isEditor ? 'Editing' : 'Also editing';
}

function renderFacepile(viewers, editorUserId) {
  const pile = $('facepile');
  const max = 4;
  const shown = viewers.slice(0, viewers.length > max ? max - 1 : max);
  const keep = [];
  for (const viewer of shown) {
    const key = viewer.id;
    let face = [...pile.children].find((c) => c.dataset.id === key);
    if (!face) { face = el('span', 'avatar'); face.dataset.id = key; }
    setAvatar(face, viewer, { ring: viewer.id === editorUserId, decorative: true, pen: false });
    face.title = viewer.name;
    keep.push(face);
  }
  if (viewers.length > shown.length) {
    const more = el('span', 'avatar more');
    more.textContent = `+${viewers.length - shown.length}`;
    keep.push(more);
  }
  pile.replaceChildren(...keep);
}

function renderBanner(viewers, editorUserId) {
  const banner = $('editor-banner');
  const editor = editorUserId && viewers.find((v) => v.id === editorUserId);
  banner.hidden = !editor;
  if (!editor) return;
  $('editor-banner-text').textContent = editor.isCurrentUser
    ? 'You are editing this page. Others see a ring around your avatar.'
    : `${editor.name} is editing this page.`;
}

/** An avatar: the picture (alt = name) or, without one, initials on the viewer's color. */
function setAvatar(node, viewer, { ring = false, decorative = false, pen = true } = {}) {
  const url = viewer.avatar && !brokenAvatars.has(viewer.avatar) ? viewer.avatar : '';
  const key = JSON.stringify([url, viewer.name, viewer.color, ring && pen]);
  node.dataset.ring = String(ring);
  if (node.dataset.key === key) return;
  node.dataset.key = key;
  node.replaceChildren();
  if (url) {
    const img = el('img', '', { src: url, alt: decorative ? '' : viewer.name, width: '40', height: '40', decoding: 'async', referrerpolicy: 'no-referrer' });
    img.addEventListener('error', () => {
      brokenAvatars.add(url);
      if (lastState) render(lastState);
    }, { once: true });
    node.append(img);
    node.style.removeProperty('--avatar-bg');
  } else {
    const initials = el('span', '', { 'aria-hidden': 'true' });
    initials.textContent = initialsOf(viewer.name);
    node.append(initials);
    if (viewer.color) {
      node.style.setProperty('--avatar-bg', viewer.color);
      node.style.setProperty('--avatar-fg', readableOn(viewer.color));
    }
  }
  if (ring && pen) {
    node.insertAdjacentHTML('beforeend', '<span class="pen" aria-hidden="true"><svg width="10" height="10" viewBox="0 0 24 24" fill="none" stroke="currentColor" stroke-width="3" stroke-linecap="round" stroke-linejoin="round"><path d="M16.5 3.5a2.1 2.1 0 0 1 3 3L7 19l-4 1 1-4Z"/></svg></span>');
  }
}

function initialsOf(name) {
  const words = String(name || '').trim().split(/\s+/).filter(Boolean);
  if (!words.length) return '?';
  const first = Array.from(words[0])[0] || '';
  const last = words.length > 1 ? Array.from(words[words.length - 1])[0] || '' : '';
  return (first + last).toUpperCase();
}

/** White on the color when it reads well enough (as most avatar colors do), else near-black. */
function readableOn(hex) {
  const m = /^#?([0-9a-f]{2})([0-9a-f]{2})([0-9a-f]{2})$/i.exec(hex || '');
  if (!m) return '#fff';
  const [r, g, b] = m.slice(1).map((h) => {
    const c = parseInt(h, 16) / 255;
    return c <= 0.03928 ? c / 12.92 : ((c + 0.055) / 1.055) ** 2.4;
  });
  const luminance = 0.2126 * r + 0.7152 * g + 0.0722 * b;
  const onWhite = 1.05 / (luminance + 0.05);
  const onBlack = (luminance + 0.05) / 0.05;
  return onWhite >= 4 || onWhite >= onBlack ? '#fff' : '#111';
}

function formatTime(iso) {
  const date = new Date(iso);
  if (Number.isNaN(date.getTime())) return '';
  return date.toLocaleTimeString([], { hour: '2-digit', minute: '2-digit' });
}

/** Tells screen readers who came, went, and started editing (not on the first snapshot). */
function announce(previous, state) {
  if (!previous || !previous.snapshot || !state.snapshot || previous.pagePath !== state.pagePath) return;
  const before = new Map(previous.viewers.map((v) => [v.id, v]));
  const after = new Map(state.viewers.map((v) => [v.id, v]));
  const lines = [];
  for (const [id, v] of after) if (!before.has(id) && !v.isCurrentUser) lines.push(`${v.name} joined.`);
  for (const [id, v] of before) if (!after.has(id) && !v.isCurrentUser) lines.push(`${v.name} left.`);
  if (state.editorUserId !== previous.editorUserId && state.editorUserId) {
    const editor = after.get(state.editorUserId);
    if (editor && !editor.isCurrentUser) lines.push(`${editor.name} is editing.`);
  }
  if (lines.length) $('announcer').textContent = lines.join(' ');
}

// ---- Start -------------------------------------------------------------------------------

async function boot() {
  showView('loading');
  try {
    // Signed out answers 401, which the browser notes in its network log: that is expected.
    const { res, data } = await api('GET', '/api/session');
    if (res.ok && data && data.user) return showApp(data.user);
    if (res.status === 401) return showSignIn();
    showSignIn(problemText(res, data));
  } catch (e) {
    showSignIn(e.message);
  }
}

boot();
