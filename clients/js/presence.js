// presence.js: the browser client of the presence service.
// A dependency-free ES module, served verbatim (no build step). See presence.d.ts for types.
//
// One tab = one request chain: join, then heartbeat every heartbeatIntervalMs with a cheap
// list poll (If-None-Match, usually a 304) half-way between heartbeats. There is only ever
// one timer of the chain and at most one request on the wire, so failures back off instead
// of piling up.
//
// Beside the chain, when EventSource exists (and no bearer token is set: EventSource cannot
// send headers), a server-sent events stream brings the viewer list as it changes, plus
// join and leave events. While it is open the chain stops polling (heartbeats go on, with
// `Prefer: return=minimal`: the server answers 204 instead of the snapshot the stream has
// brought already); when it fails, polling takes over and the stream is tried again later.
// Each stream snapshot carries its ETag as the event id, and each 204 the ETag of the list
// as it is now: a stream that does not catch up with that tag soon is stuck, and is
// treated as failed.

const TAB_KEY = 'presence:tab-id';
const DEFAULT_INTERVAL_MS = 15000;
const MAX_BACKOFF_MS = 60000;
// A request that hangs would stall the only chain; give up on it (and back off) after this.
const TIMEOUT_MS = 10000;
// When two requests are wanted at once, the stronger one wins: a join is also a heartbeat,
// and a heartbeat answers the snapshot a poll would have fetched.
const RANK = { poll: 0, heartbeat: 1, join: 2 };
const PERSON_EVENTS = ['join', 'leave'];
// How long a stream may take to bring the list a heartbeat's answer named (the server
// merges changes for a quarter of a second) before it counts as stuck.
const STREAM_LAG_MS = 2000;

export function createPresence(options) {
  if (!options || typeof options.pagePath !== 'string') {
    throw new TypeError('createPresence: options.pagePath (a string) is required');
  }
  const transport = options.transport === undefined ? 'auto' : options.transport;
  if (transport !== 'auto' && transport !== 'poll') {
    throw new TypeError("createPresence: options.transport is 'auto' or 'poll'");
  }
  const base = (options.baseUrl || '').replace(/\/+$/, '');
  // Called as a plain function: window.fetch throws "Illegal invocation" when called as a
  // method of some other object (options.fetch(...)).
  const doFetch = options.fetch || ((url, init) => globalThis.fetch(url, init));
  const win = options.window || globalThis.window;
  const doc = options.document || globalThis.document;
  const nav = options.navigator || globalThis.navigator;
  // null turns the stream off, like transport: 'poll'.
  const EventSourceImpl = 'EventSource' in options ? options.EventSource : globalThis.EventSource;
  const canStream = transport === 'auto' && !options.token && typeof EventSourceImpl === 'function';
  const tabId = loadTabId(options.storage);

  let state = {
    pagePath: options.pagePath, tabId, viewers: [], editorUserId: undefined,
    isEditing: false, status: 'connecting', error: undefined, snapshot: undefined, transport: 'poll',
  };
  const listeners = new Set();
  const personListeners = { join: new Set(), leave: new Set() };
  let etag = null;       // ETag of the snapshot we show; sent as If-None-Match on polls
  let shownKey = null;   // JSON of the snapshot we show, to spot an unchanged one without an ETag
  let timer = null;      // the one pending timer: the next request of the chain
  let due = 'join';      // what the next request of the chain will be
  let inflight = null;   // the request on the wire ({ controller }), if any
  let urgent = null;     // asked for while a request was on the wire; sent right after it
  let failures = 0;      // consecutive failures; > 0 means we are backing off
  let nextBeatAt = 0;    // when the next heartbeat is due (ms since epoch)
  let paused = false;    // after pagehide, until pageshow
  let ended = false;     // stopped or unauthorized: no more requests, ever
  let halted = false;    // a 4xx that no retry can fix: nothing is sent until the app changes something
  let stream = null;     // the open EventSource: { source, live, tagged, watchdog }
  let streamSeq = 0;     // counts stream snapshots: an answer asked for before the last one is older
  let streamFailures = 0;  // consecutive stream failures; the stream is retried after a back-off
  let streamRetryAt = 0;   // not before this (ms since epoch), and only after a request succeeded

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
    if (ended || paused || halted) return;
    if (inflight) {
      if (!urgent || RANK[kind] > RANK[urgent]) urgent = kind;
      return;
    }
    const next = RANK[due] > RANK[kind] ? due : kind;
    if (failures > 0) due = next;
    else sendNow(next);
  }

  // After a success: poll half an interval after the heartbeat, then heartbeat. A hidden tab
  // skips the poll (nobody looks at it); it heartbeats at once when it becomes visible. With
  // the stream open there is nothing to poll for.
  function scheduleNext() {
    const wait = nextBeatAt - Date.now();
    const pollIn = wait - intervalMs() / 2;
    if (pollIn > 0 && !isHidden() && !(stream && stream.live)) schedule('poll', pollIn);
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
    if (ended || paused || halted) return;
    const kind = due;
    const controller = typeof AbortController === 'function' ? new AbortController() : null;
    const req = { controller, timeout: controller && setTimeout(() => controller.abort(), TIMEOUT_MS), seq: streamSeq };
    inflight = req;
    const page = state.pagePath;
    let res, body, error;
    try {
      let h = headers(kind !== 'poll');
      if (typeof h.then === 'function') h = await h;
      if (kind === 'heartbeat' && stream && stream.live) h.Prefer = 'return=minimal';
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
      if (res.status !== 304 && res.status !== 204) body = await res.json().catch((e) => { if (res.ok) throw e; });
      if (res.status === 200 && !(body && Array.isArray(body.viewers))) throw new Error('presence: the answer is not a snapshot');
    } catch (e) {
      error = e;
    }
    clearTimeout(req.timeout);
    if (inflight !== req) return; // superseded (route change, pagehide, stop): stale answer
    inflight = null;
    if (!error && res.status === 401) return unauthorized(res, body);
    if (!error && [200, 204, 304].includes(res.status)) return succeeded(kind, res, body, req.seq === streamSeq);
    // Any other 4xx (400, 404, 413, 415 …) is an answer about the request itself: sending it
    // again cannot help. 408 and 429 are about timing, so those are retried.
    if (!error && res.status >= 400 && res.status < 500 && res.status !== 408 && res.status !== 429) {
      return refused(kind, res, body);
    }
    failed(kind, res, body, error);
  }

  // What a snapshot changes in the state: nothing when it is the one we show (same ETag or
  // same content), so that nothing re-renders.
  function snapshotPatch(body, tag) {
    if (state.snapshot && tag && tag === etag) return {};
    const key = JSON.stringify(body);
    if (state.snapshot && key === shownKey) {
      if (tag) etag = tag;
      return {};
    }
    shownKey = key;
    etag = tag || null;
    return { snapshot: body, viewers: body.viewers, editorUserId: body.editorUserId };
  }

  // fresh: no stream snapshot arrived since the request was sent, so its answer is not older
  // than what we show. (A stale one is dropped: the stream has brought a newer list.)
  function succeeded(kind, res, body, fresh) {
    failures = 0;
    const patch = { status: 'live', error: undefined };
    if (res.status === 200 && fresh) Object.assign(patch, snapshotPatch(body, res.headers.get('ETag')));
    if (res.status === 204 && fresh) expectFromStream(res.headers.get('ETag'));
    if (state.status !== 'live' || state.error || patch.snapshot) setState(patch);
    if (kind !== 'poll') nextBeatAt = Date.now() + intervalMs();
    // A (re-)join leaves the server's isEditing as it was: say ours at once.
    if (kind === 'join' && state.isEditing && RANK[urgent || 'poll'] < RANK.heartbeat) urgent = 'heartbeat';
    scheduleNext();
    const next = urgent;
    urgent = null;
    if (next) request(next);
    // The server answers and knows us: a good moment to (re)open the stream.
    if (!stream && Date.now() >= streamRetryAt) openStream();
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

  // A 4xx that retrying cannot fix: stop sending until setPagePath or setEditing.
  function refused(kind, res, body) {
    failures = 0;
    halted = true;
    due = kind; // what the app's next change sends (or something stronger)
    urgent = null;
    clearTimeout(timer);
    timer = null;
    closeStream();
    setState({ status: 'error', error: httpError(kind, res, body), transport: 'poll' });
  }

  function unauthorized(res, body) {
    ended = true;
    teardown();
    setState({ status: 'unauthorized', error: httpError('request', res, body), transport: 'poll' });
  }

  // ---- the stream ----------------------------------------------------------------------

  function openStream() {
    if (!canStream || stream || ended || paused || halted) return;
    const url = base + '/api/presence/stream?pagePath=' + encodeURIComponent(state.pagePath);
    let source;
    try {
      source = new EventSourceImpl(url, { withCredentials: true });
    } catch (e) {
      streamFailed(null);
      return;
    }
    const s = { source, live: false, tagged: false, watchdog: null };
    stream = s;
    // The server sends a snapshot at once; a stream that brings none (a buffering proxy, no
    // free connection) is of no use.
    s.watchdog = setTimeout(() => streamFailed(s), TIMEOUT_MS);
    source.addEventListener('snapshot', (event) => onStreamSnapshot(s, event));
    for (const type of PERSON_EVENTS) source.addEventListener(type, (event) => onStreamPerson(s, type, event));
    // EventSource would reconnect by itself, after `retry`; we poll instead and come back later.
    source.addEventListener('error', () => streamFailed(s));
  }

  function onStreamSnapshot(s, event) {
    if (stream !== s) return; // closed meanwhile
    let body;
    try { body = JSON.parse(event.data); } catch (e) { /* below */ }
    if (!(body && Array.isArray(body.viewers))) return streamFailed(s);
    streamSeq += 1;
    s.tagged = !!event.lastEventId;
    const patch = snapshotPatch(body, event.lastEventId || null);
    if (!s.live) {
      s.live = true;
      streamFailures = 0;
      clearTimeout(s.watchdog);
      s.watchdog = null;
      patch.transport = 'stream';
      // Stop polling: the next request of the chain is the heartbeat.
      if (timer && due === 'poll' && failures === 0) schedule('heartbeat', nextBeatAt - Date.now());
    }
    if (patch.snapshot || patch.transport) setState(patch);
  }

  // A 204 named the list as it is now. If it is not the one the stream brought last, the
  // stream owes us a snapshot; one that brings nothing in time is stuck: fail it, which
  // polls at once. (Only a stream that tags its snapshots can be checked.)
  function expectFromStream(tag) {
    const s = stream;
    if (!s || !s.live || !s.tagged || !tag || tag === etag) return;
    const seq = streamSeq;
    setTimeout(() => { if (stream === s && streamSeq === seq) streamFailed(s); }, STREAM_LAG_MS);
  }

  function onStreamPerson(s, type, event) {
    if (stream !== s) return;
    let person;
    try { person = JSON.parse(event.data); } catch (e) { return; }
    if (!person || typeof person.id !== 'string') return;
    for (const listener of [...personListeners[type]]) {
      try { listener(person); } catch (e) { console.error(e); }
    }
  }

  // Close it; when it was our source of the list, poll at once (changes may have been
  // missed), then keep polling until a request succeeds after the back-off: then reopen.
  function streamFailed(s) {
    if (s && stream !== s) return;
    const wasLive = closeStream();
    streamFailures += 1;
    streamRetryAt = Date.now() + backoffMs(streamFailures);
    if (!wasLive) return;
    setState({ transport: 'poll' });
    if (ended || paused || halted || failures > 0) return; // a retry is due anyway
    if (!inflight) sendNow('poll');
    else if (!urgent) urgent = 'poll'; // its answer may be older than the stream's last snapshot
  }

  // Answers whether the stream was the source of the list.
  function closeStream() {
    if (!stream) return false;
    const { source, live, watchdog } = stream;
    stream = null;
    clearTimeout(watchdog);
    try { source.close(); } catch (e) { /* closed already */ }
    return live;
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
    closeStream();
    leave(state.pagePath);
    if (state.transport !== 'poll') setState({ transport: 'poll' });
  };
  // Back from the back/forward cache: we said goodbye on pagehide, so join again.
  const onPageShow = (event) => {
    if (!event || !event.persisted || !paused || ended) return;
    paused = false;
    failures = 0;
    halted = false;
    streamFailures = 0;
    streamRetryAt = 0; // the stream reopens once the join succeeds
    sendNow('join');
  };
  // The network is back: retry now instead of waiting out the back-off.
  const onOnline = () => { if (failures > 0 && !inflight && !ended && !paused && !halted) sendNow(due); };

  const winEvents = { pagehide: onPageHide, pageshow: onPageShow, online: onOnline };
  function listen(method) { // 'addEventListener' or 'removeEventListener'
    if (win && win[method]) for (const type in winEvents) win[method](type, winEvents[type]);
    if (doc && doc[method]) doc[method]('visibilitychange', onVisibility);
  }

  function teardown() {
    clearTimeout(timer);
    timer = null;
    abortInflight();
    closeStream();
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
      if (halted && !ended && !paused) {
        // Refused before: a change of the app's is worth one more try (state stays 'error'
        // until the answer).
        halted = false;
        sendNow(RANK[due] > RANK.heartbeat ? due : 'heartbeat');
        return;
      }
      request('heartbeat');
    },
    setPagePath(pagePath) {
      if (typeof pagePath !== 'string' || pagePath === state.pagePath || ended) return;
      const old = state.pagePath;
      abortInflight();
      closeStream();
      if (!paused) leave(old);
      etag = null;
      shownKey = null;
      halted = false;
      streamFailures = 0;
      streamRetryAt = 0; // the new page's stream opens once its join succeeds
      // Editing mirrors a lock on one page; it does not follow the user to the next page.
      setState({ pagePath, viewers: [], editorUserId: undefined, snapshot: undefined, isEditing: false, status: 'connecting', error: undefined, transport: 'poll' });
      if (paused) due = 'join';
      else sendNow('join'); // a navigation is a natural moment to retry, even when backing off
    },
    subscribe(listener) {
      listeners.add(listener);
      listener(state);
      return () => { listeners.delete(listener); };
    },
    on(type, listener) {
      if (!personListeners[type]) throw new TypeError("presence.on: the event is 'join' or 'leave'");
      personListeners[type].add(listener);
      return () => { personListeners[type].delete(listener); };
    },
    stop() {
      if (state.status === 'stopped') return;
      if (!ended && !paused) leave(state.pagePath);
      ended = true;
      teardown();
      setState({ status: 'stopped', transport: 'poll' });
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
