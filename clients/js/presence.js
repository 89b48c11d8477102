// presence.js: the browser client of the presence service.
// A dependency-free ES module, served verbatim (no build step). See presence.d.ts for types.
//
// One tab = one request chain: join, then heartbeat every heartbeatIntervalMs with a cheap
// list poll (If-None-Match, usually a 304) half-way between heartbeats. There is only ever
// one timer and at most one request on the wire, so failures back off instead of piling up.

const TAB_KEY = 'presence:tab-id';
const DEFAULT_INTERVAL_MS = 15000;
const MAX_BACKOFF_MS = 60000;
// A request that hangs would stall the only chain; give up on it (and back off) after this.
const TIMEOUT_MS = 10000;
// When two requests are wanted at once, the stronger one wins: a join is also a heartbeat,
// and a heartbeat answers the snapshot a poll would have fetched.
const RANK = { poll: 0, heartbeat: 1, join: 2 };

export function createPresence(options) {
  if (!options || typeof options.pagePath !== 'string') {
    throw new TypeError('createPresence: options.pagePath (a string) is required');
  }
  const base = (options.baseUrl || '').replace(/\/+$/, '');
  // Called as a plain function: window.fetch throws "Illegal invocation" when called as a
  // method of some other object (options.fetch(...)).
  const doFetch = options.fetch || ((url, init) => globalThis.fetch(url, init));
  const win = options.window || globalThis.window;
  const doc = options.document || globalThis.document;
  const nav = options.navigator || globalThis.navigator;
  const tabId = loadTabId(options.storage);

  let state = {
    pagePath: options.pagePath, tabId, viewers: [], editorUserId: undefined,
    isEditing: false, status: 'connecting', error: undefined, snapshot: undefined,
  };
  const listeners = new Set();
  let etag = null;       // ETag of the snapshot we show; sent as If-None-Match on polls
  let timer = null;      // the one pending timer: the next request of the chain
  let due = 'join';      // what the next request of the chain will be
  let inflight = null;   // the request on the wire ({ controller }), if any
  let urgent = null;     // asked for while a request was on the wire; sent right after it
  let failures = 0;      // consecutive failures; > 0 means we are backing off
  let nextBeatAt = 0;    // when the next heartbeat is due (ms since epoch)
  let paused = false;    // after pagehide, until pageshow
  let ended = false;     // stopped or unauthorized: no more requests, ever

  function setState(patch) {
    state = { ...state, ...patch };
    for (const listener of [...listeners]) {
      try { listener(state); } catch (e) { console.error(e); }
    }
  }

  const intervalMs = () => (state.snapshot && state.snapshot.heartbeatIntervalMs) || DEFAULT_INTERVAL_MS;
  const isHidden = () => !!doc && doc.visibilityState === 'hidden';

  function schedule(kind, delay) {
    clearTimeout(timer);
    due = kind;
    timer = setTimeout(send, Math.max(0, delay));
  }

  function sendNow(kind) {
    clearTimeout(timer);
    timer = null;
    due = kind;
    send();
  }

  // Ask for a request as soon as allowed. While one is on the wire, it waits for it; while
  // backing off, it only upgrades what the pending retry will send (no extra request).
  function request(kind) {
    if (ended || paused) return;
    if (inflight) {
      if (!urgent || RANK[kind] > RANK[urgent]) urgent = kind;
      return;
    }
    const next = RANK[due] > RANK[kind] ? due : kind;
    if (failures > 0) due = next;
    else sendNow(next);
  }

  // After a success: poll half an interval after the heartbeat, then heartbeat. A hidden tab
  // skips the poll (nobody looks at it); it heartbeats at once when it becomes visible.
  function scheduleNext() {
    const wait = nextBeatAt - Date.now();
    const pollIn = wait - intervalMs() / 2;
    if (pollIn > 0 && !isHidden()) schedule('poll', pollIn);
    else schedule('heartbeat', wait);
  }

  // Synchronous unless the token function answers a promise: a request made in pagehide
  // must start before the page goes away, not a microtask later.
  function headers(json) {
    const h = json ? { 'Content-Type': 'application/json' } : {};
    const token = typeof options.token === 'function' ? options.token() : options.token;
    const add = (t) => { if (t) h.Authorization = 'Bearer ' + t; return h; };
    return token && typeof token.then === 'function' ? token.then(add) : add(token);
  }

  async function send() {
    timer = null;
    if (ended || paused) return;
    const kind = due;
    const controller = typeof AbortController === 'function' ? new AbortController() : null;
    const req = { controller, timeout: controller && setTimeout(() => controller.abort(), TIMEOUT_MS) };
    inflight = req;
    const page = state.pagePath;
    let res, body, error;
    try {
      let h = headers(kind !== 'poll');
      if (typeof h.then === 'function') h = await h;
      const init = { method: kind === 'poll' ? 'GET' : 'POST', credentials: 'include', headers: h };
      if (controller) init.signal = controller.signal;
      let url = base + '/api/presence/' + kind;
      if (kind === 'poll') {
        url = base + '/api/presence/list?pagePath=' + encodeURIComponent(page);
        if (etag) init.headers['If-None-Match'] = etag;
      } else {
        // join reads no isEditing (a new tab starts not editing); heartbeat sets it.
        init.body = JSON.stringify(kind === 'join' ? { pagePath: page, tabId } : { pagePath: page, tabId, isEditing: state.isEditing });
      }
      res = await doFetch(url, init);
      if (res.status !== 304) body = await res.json().catch((e) => { if (res.ok) throw e; });
      if (res.status === 200 && !(body && Array.isArray(body.viewers))) throw new Error('presence: the answer is not a snapshot');
    } catch (e) {
      error = e;
    }
    clearTimeout(req.timeout);
    if (inflight !== req) return; // superseded (route change, pagehide, stop): stale answer
    inflight = null;
    if (!error && res.status === 401) return unauthorized(res, body);
    if (!error && (res.status === 200 || res.status === 304)) return succeeded(kind, res, body);
    failed(kind, res, body, error);
  }

  function succeeded(kind, res, body) {
    failures = 0;
    const tag = res.headers.get('ETag');
    const patch = { status: 'live', error: undefined };
    // The same tag means the same bytes: keep the old objects so nothing re-renders.
    if (res.status === 200 && !(tag && tag === etag && state.snapshot)) {
      Object.assign(patch, { snapshot: body, viewers: body.viewers, editorUserId: body.editorUserId });
    }
    if (tag) etag = tag;
    if (state.status !== 'live' || state.error || patch.snapshot) setState(patch);
    if (kind !== 'poll') nextBeatAt = Date.now() + intervalMs();
    // A (re-)join leaves the server's isEditing as it was: say ours at once.
    if (kind === 'join' && state.isEditing && RANK[urgent || 'poll'] < RANK.heartbeat) urgent = 'heartbeat';
    scheduleNext();
    const next = urgent;
    urgent = null;
    if (next) request(next);
  }

  function failed(kind, res, body, error) {
    failures += 1;
    const err = error || httpError(kind, res, body);
    const wait = Math.max(backoffMs(failures), retryAfterMs(res));
    setState({ status: 'offline', error: err });
    // Retry the same request (or a stronger one asked for meanwhile) once the wait is over.
    const next = urgent && RANK[urgent] > RANK[kind] ? urgent : kind;
    urgent = null;
    schedule(next, wait);
  }

  function unauthorized(res, body) {
    ended = true;
    teardown();
    setState({ status: 'unauthorized', error: httpError('request', res, body) });
  }

  // Say goodbye. sendBeacon survives the page going away, but it cannot carry an
  // Authorization header, so with a token (or when the beacon is refused) use a keepalive
  // fetch. The string body goes out as text/plain, which the server accepts.
  function leave(page) {
    const url = base + '/api/presence/leave';
    const body = JSON.stringify({ pagePath: page, tabId });
    if (!options.token && nav && typeof nav.sendBeacon === 'function') {
      try { if (nav.sendBeacon(url, body)) return; } catch (e) { /* fall back to fetch */ }
    }
    const post = (h) => doFetch(url, { method: 'POST', keepalive: true, credentials: 'include', headers: h, body });
    // Failures are ignored: the tab expires after ttlMs anyway.
    try {
      const h = headers(true);
      Promise.resolve(typeof h.then === 'function' ? h.then(post) : post(h)).catch(() => {});
    } catch (e) { /* a token function that throws: same */ }
  }

  function abortInflight() {
    if (inflight && inflight.controller) {
      clearTimeout(inflight.timeout);
      inflight.controller.abort();
    }
    inflight = null;
    urgent = null;
  }

  const onVisibility = () => { if (!isHidden()) request('heartbeat'); };
  const onPageHide = () => {
    if (ended || paused) return;
    paused = true;
    clearTimeout(timer);
    timer = null;
    abortInflight();
    leave(state.pagePath);
  };
  // Back from the back/forward cache: we said goodbye on pagehide, so join again.
  const onPageShow = (event) => {
    if (!event || !event.persisted || !paused || ended) return;
    paused = false;
    failures = 0;
    sendNow('join');
  };
  // The network is back: retry now instead of waiting out the back-off.
  const onOnline = () => { if (failures > 0 && !inflight && !ended && !paused) sendNow(due); };

  const winEvents = { pagehide: onPageHide, pageshow: onPageShow, online: onOnline };
  function listen(method) { // 'addEventListener' or 'removeEventListener'
    if (win && win[method]) for (const type in winEvents) win[method](type, winEvents[type]);
    if (doc && doc[method]) doc[method]('visibilitychange', onVisibility);
  }

  function teardown() {
    clearTimeout(timer);
    timer = null;
    abortInflight();
    listen('removeEventListener');
  }

  listen('addEventListener');
  sendNow('join');

  return {
    get tabId() { return tabId; },
    get state() { return state; },
    get viewers() { return state.viewers; },
    get editorUserId() { return state.editorUserId; },
    get isEditing() { return state.isEditing; },
    get status() { return state.status; },
    setEditing(isEditing) {
      const next = !!isEditing;
      if (next === state.isEditing) return;
      setState({ isEditing: next });
      request('heartbeat');
    },
    setPagePath(pagePath) {
      if (typeof pagePath !== 'string' || pagePath === state.pagePath || ended) return;
      const old = state.pagePath;
      abortInflight();
      if (!paused) leave(old);
      etag = null;
      // Editing mirrors a lock on one page; it does not follow the user to the next page.
      setState({ pagePath, viewers: [], editorUserId: undefined, snapshot: undefined, isEditing: false, status: 'connecting', error: undefined });
      if (paused) due = 'join';
      else sendNow('join'); // a navigation is a natural moment to retry, even when backing off
    },
    subscribe(listener) {
      listeners.add(listener);
      listener(state);
      return () => { listeners.delete(listener); };
    },
    stop() {
      if (state.status === 'stopped') return;
      if (!ended && !paused) leave(state.pagePath);
      ended = true;
      teardown();
      setState({ status: 'stopped' });
    },
  };
}

function loadTabId(storage) {
  let store = storage;
  try { if (!store) store = globalThis.sessionStorage; } catch (e) { store = null; } // blocked storage throws
  try {
    const id = store && store.getItem(TAB_KEY);
    if (id && /^[A-Za-z0-9_-]{1,64}$/.test(id)) return id;
  } catch (e) { /* no storage: a fresh id per page load */ }
  const id = newTabId();
  try { if (store) store.setItem(TAB_KEY, id); } catch (e) { /* ditto */ }
  return id;
}

function newTabId() {
  const c = globalThis.crypto;
  if (c && typeof c.randomUUID === 'function') return c.randomUUID();
  // randomUUID exists only in secure contexts (https, localhost); plain-http setups still need an id.
  const bytes = new Uint8Array(16);
  if (c && typeof c.getRandomValues === 'function') c.getRandomValues(bytes);
  else for (let i = 0; i < bytes.length; i++) bytes[i] = Math.floor(Math.random() * 256);
  return Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join('');
}

// 1 s, 2 s, 4 s … capped at 60 s, with "equal jitter" (half fixed, half random) so that many
// tabs that failed together do not come back together.
function backoffMs(failures) {
  const cap = Math.min(MAX_BACKOFF_MS, 1000 * 2 ** (failures - 1));
  return Math.round(cap / 2 + Math.random() * (cap / 2));
}

// Retry-After is seconds or an HTTP date; 0 when absent or unreadable.
function retryAfterMs(res) {
  const value = res && res.headers && res.headers.get('Retry-After');
  if (!value) return 0;
  const seconds = Number(value);
  if (Number.isFinite(seconds)) return Math.max(0, seconds * 1000);
  const at = Date.parse(value);
  return Number.isNaN(at) ? 0 : Math.max(0, at - Date.now());
}

function httpError(kind, res, body) {
  const detail = body && typeof body.detail === 'string' ? body.detail : '';
  const err = new Error(`presence: ${kind} failed with HTTP ${res.status}${detail ? ': ' + detail : ''}`);
  err.status = res.status;
  if (body) err.problem = body;
  return err;
}
