// presence.js: the browser client of the presence service.
// A dependency-free ES module, served verbatim (no build step). Its types are presence.d.ts;
// the JSDoc below names them, and `npm test` checks this file against them (tsc --checkJs).
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
//
// Whether the client may send at all is one value, its phase (see LIFECYCLE):
//
//   running ──4xx refused──▶ halted ──setEditing / setPagePath──▶ running
//   running, halted ──pagehide──▶ paused ──pageshow (back/forward cache)──▶ running
//   running ──401──▶ unauthorized
//   running, halted, paused, unauthorized ──stop()──▶ stopped
//
// Only `running` sends requests and opens the stream. The public `state.status` is what the
// app shows (connecting, live, offline …) and is not the phase: a halted client that the app
// gives another try is running again, yet says `error` until the answer comes.

/**
 * @import { Presence, PresenceOptions, PresencePerson, PresencePersonEvent, PresenceState, Snapshot } from './presence.js'
 */

const TAB_KEY = 'presence:tab-id';
const DEFAULT_INTERVAL_MS = 15000;
const MAX_BACKOFF_MS = 60000;
// A request that hangs would stall the only chain; give up on it (and back off) after this.
const TIMEOUT_MS = 10000;
// When two requests are wanted at once, the stronger one wins: a join is also a heartbeat,
// and a heartbeat answers the snapshot a poll would have fetched.
const RANK = { poll: 0, heartbeat: 1, join: 2 };
/** @type {PresencePersonEvent[]} */
const PERSON_EVENTS = ['join', 'leave'];
// How long a stream may take to bring the list a heartbeat's answer named (the server
// merges changes for a quarter of a second) before it counts as stuck.
const STREAM_LAG_MS = 2000;

/**
 * @typedef {'running' | 'halted' | 'paused' | 'unauthorized' | 'stopped'} Phase
 * @typedef {'refused' | 'change' | 'pagehide' | 'pageshow' | 'unauthorized' | 'stop'} LifecycleEvent
 */

/**
 * The lifecycle: for each phase, the events that leave it and where they lead. An event a
 * phase does not list changes nothing (a second pagehide, stop() after stop()).
 * @type {Record<Phase, Partial<Record<LifecycleEvent, Phase>>>}
 */
const LIFECYCLE = {
  // Joins, heartbeats, polls; the stream may be open.
  running: { refused: 'halted', pagehide: 'paused', unauthorized: 'unauthorized', stop: 'stopped' },
  // The server refused a request with a 4xx that sending it again cannot fix: nothing is
  // sent until the app changes something (`change`: setEditing or setPagePath).
  halted: { change: 'running', pagehide: 'paused', stop: 'stopped' },
  // The page went away (we said goodbye); it may come back from the back/forward cache.
  paused: { pageshow: 'running', stop: 'stopped' },
  // The server does not know us (401): nothing more is sent, ever.
  unauthorized: { stop: 'stopped' },
  stopped: {},
};

/**
 * @typedef {'join' | 'heartbeat' | 'poll'} Kind  a request of the chain
 * @typedef {ReturnType<typeof setTimeout> | undefined} Timer
 * @typedef {Record<string, string>} HeaderMap
 *
 * @typedef {object} Inflight  the request on the wire
 * @property {AbortController | null} controller
 * @property {Timer} timeout  aborts it after TIMEOUT_MS
 * @property {number} seq  stream snapshots seen when it was sent
 *
 * @typedef {object} Chain  the requests: one timer, at most one on the wire
 * @property {Timer} timer  the next request of the chain
 * @property {Kind} due  what that next request will be
 * @property {Inflight | null} inflight
 * @property {Kind | null} urgent  asked for while a request was on the wire; sent right after it
 * @property {number} failures  consecutive failures; > 0 means we are backing off
 * @property {number} nextBeatAt  when the next heartbeat is due (ms since epoch)
 *
 * @typedef {object} OpenStream  an EventSource we opened
 * @property {EventSource} source
 * @property {boolean} live  it has brought a snapshot: it is the source of the list
 * @property {boolean} tagged  its snapshots carry their ETag (so a 204 can be checked against it)
 * @property {Timer} watchdog  fails it when no snapshot comes in time
 *
 * @typedef {object} Stream
 * @property {OpenStream | null} current
 * @property {number} seq  counts stream snapshots: an answer asked for before the last one is older
 * @property {number} failures  consecutive failures; the stream is retried after a back-off
 * @property {number} retryAt  not before this (ms since epoch), and only after a request succeeded
 *
 * @typedef {{ res?: Response, body?: any, error?: unknown }} Outcome  of one request
 */

/**
 * @param {PresenceOptions} options
 * @returns {Presence}
 */
export function createPresence(options) {
  if (!options || typeof options.pagePath !== 'string') {
    throw new TypeError('createPresence: options.pagePath (a string) is required');
  }
  const transport = options.transport === undefined ? 'auto' : options.transport;
  if (transport !== 'auto' && transport !== 'poll') {
    throw new TypeError("createPresence: options.transport is 'auto' or 'poll'");
  }
  const client = new Client(options, transport);
  client.start();
  return facade(client);
}

/**
 * The client as the app sees it: what presence.d.ts declares, and nothing of the insides.
 * @param {Client} client
 * @returns {Presence}
 */
function facade(client) {
  return {
    get tabId() { return client.tabId; },
    get state() { return client.state; },
    get viewers() { return client.state.viewers; },
    get editorUserId() { return client.state.editorUserId; },
    get isEditing() { return client.state.isEditing; },
    get status() { return client.state.status; },
    setEditing: (isEditing) => client.setEditing(isEditing),
    setPagePath: (pagePath) => client.setPagePath(pagePath),
    subscribe: (listener) => client.subscribe(listener),
    on: (type, listener) => client.on(type, listener),
    stop: () => client.stop(),
  };
}

class Client {
  /**
   * @param {PresenceOptions} options  kept: the token is read at every request
   * @param {'auto' | 'poll'} transport
   */
  constructor(options, transport) {
    this.options = options;
    this.base = (options.baseUrl || '').replace(/\/+$/, '');
    // Called as a plain function: window.fetch throws "Illegal invocation" when called as a
    // method of some other object (options.fetch(...)).
    const doFetch = options.fetch || ((url, init) => globalThis.fetch(url, init));
    /** @type {(url: string, init: RequestInit) => Promise<Response>} */
    this.fetch = (url, init) => doFetch(url, init);
    this.doc = options.document || globalThis.document;
    this.nav = options.navigator || globalThis.navigator;
    // null turns the stream off, like transport: 'poll'.
    this.EventSource = 'EventSource' in options ? options.EventSource : globalThis.EventSource;
    this.canStream = transport === 'auto' && !options.token && typeof this.EventSource === 'function';
    this.tabId = loadTabId(options.storage);

    /** @type {Phase} */
    this.phase = 'running';
    /** @type {PresenceState} */
    this.state = {
      pagePath: options.pagePath, tabId: this.tabId, viewers: [], editorUserId: undefined,
      isEditing: false, status: 'connecting', error: undefined, snapshot: undefined, transport: 'poll',
    };
    /** @type {Set<(state: PresenceState) => void>} */
    this.listeners = new Set();
    /** @type {Record<PresencePersonEvent, Set<(person: PresencePerson) => void>>} */
    this.personListeners = { join: new Set(), leave: new Set() };
    // The snapshot we show: its ETag (sent as If-None-Match on polls) and its JSON (to spot
    // an unchanged one that comes without an ETag).
    /** @type {{ etag: string | null, key: string | null }} */
    this.shown = { etag: null, key: null };
    /** @type {Chain} */
    this.chain = { timer: undefined, due: 'join', inflight: null, urgent: null, failures: 0, nextBeatAt: 0 };
    /** @type {Stream} */
    this.stream = { current: null, seq: 0, failures: 0, retryAt: 0 };

    const win = options.window || globalThis.window;
    // The page's events we follow, bound once so that removeEventListener finds them.
    /** @type {[EventTarget | undefined, string, (event: Event) => void][]} */
    this.pageEvents = [
      [win, 'pagehide', () => this.onPageHide()],
      [win, 'pageshow', (event) => this.onPageShow(/** @type {PageTransitionEvent} */ (event))],
      [win, 'online', () => this.onOnline()],
      [this.doc, 'visibilitychange', () => this.onVisibility()],
    ];
  }

  start() {
    this.listen(true);
    this.sendNow('join');
  }

  // ---- the lifecycle ---------------------------------------------------------------------

  /**
   * Moves the phase as LIFECYCLE says; answers whether `event` applied to the current one.
   * @param {LifecycleEvent} event
   */
  transition(event) {
    const next = LIFECYCLE[this.phase][event];
    if (!next) return false;
    this.phase = next;
    return true;
  }

  isOver() {
    return this.phase === 'unauthorized' || this.phase === 'stopped';
  }

  // ---- state and listeners ---------------------------------------------------------------

  /** @param {Partial<PresenceState>} patch */
  setState(patch) {
    this.state = { ...this.state, ...patch };
    for (const listener of [...this.listeners]) {
      try { listener(this.state); } catch (e) { console.error(e); }
    }
  }

  intervalMs() {
    return (this.state.snapshot && this.state.snapshot.heartbeatIntervalMs) || DEFAULT_INTERVAL_MS;
  }

  isHidden() {
    return !!this.doc && this.doc.visibilityState === 'hidden';
  }

  /**
   * What a snapshot changes in the state: nothing when it is the one we show (same ETag or
   * same content), so that nothing re-renders.
   * @param {Snapshot} body
   * @param {string | null} tag
   * @returns {Partial<PresenceState>}
   */
  snapshotPatch(body, tag) {
    const shown = this.shown;
    if (this.state.snapshot && tag && tag === shown.etag) return {};
    const key = JSON.stringify(body);
    if (this.state.snapshot && key === shown.key) {
      if (tag) shown.etag = tag;
      return {};
    }
    shown.key = key;
    shown.etag = tag || null;
    return { snapshot: body, viewers: body.viewers, editorUserId: body.editorUserId };
  }

  // ---- the request chain -----------------------------------------------------------------

  /** @param {Kind} kind @param {number} delay */
  schedule(kind, delay) {
    const chain = this.chain;
    clearTimeout(chain.timer);
    chain.due = kind;
    chain.timer = setTimeout(() => this.send(), Math.max(0, delay));
  }

  /** @param {Kind} kind */
  sendNow(kind) {
    const chain = this.chain;
    clearTimeout(chain.timer);
    chain.timer = undefined;
    chain.due = kind;
    this.send();
  }

  /**
   * Ask for a request as soon as allowed. While one is on the wire, it waits for it; while
   * backing off, it only upgrades what the pending retry will send (no extra request).
   * @param {Kind} kind
   */
  request(kind) {
    if (this.phase !== 'running') return;
    const chain = this.chain;
    if (chain.inflight) {
      chain.urgent = chain.urgent ? stronger(chain.urgent, kind) : kind;
      return;
    }
    const next = stronger(chain.due, kind);
    if (chain.failures > 0) chain.due = next;
    else this.sendNow(next);
  }

  // After a success: poll half an interval after the heartbeat, then heartbeat. A hidden tab
  // skips the poll (nobody looks at it); it heartbeats at once when it becomes visible. With
  // the stream open there is nothing to poll for.
  scheduleNext() {
    const wait = this.chain.nextBeatAt - Date.now();
    const pollIn = wait - this.intervalMs() / 2;
    if (pollIn > 0 && !this.isHidden() && !this.streamIsLive()) this.schedule('poll', pollIn);
    else this.schedule('heartbeat', wait);
  }

  // Clear the timer and drop the request on the wire (its answer will be ignored).
  stopChain() {
    clearTimeout(this.chain.timer);
    this.chain.timer = undefined;
    this.abortInflight();
  }

  abortInflight() {
    const chain = this.chain;
    if (chain.inflight && chain.inflight.controller) {
      clearTimeout(chain.inflight.timeout);
      chain.inflight.controller.abort();
    }
    chain.inflight = null;
    chain.urgent = null;
  }

  /**
   * Synchronous unless the token function answers a promise: a request made in pagehide
   * must start before the page goes away, not a microtask later.
   * @param {boolean} json
   * @returns {HeaderMap | Promise<HeaderMap>}
   */
  headers(json) {
    /** @type {HeaderMap} */
    const h = json ? { 'Content-Type': 'application/json' } : {};
    const { token: given } = this.options;
    const token = typeof given === 'function' ? given() : given;
    /** @param {string | undefined} t */
    const add = (t) => { if (t) h.Authorization = 'Bearer ' + t; return h; };
    return isThenable(token) ? token.then(add) : add(token);
  }

  // The chain's next request: send it, and act on the answer unless it was superseded.
  async send() {
    const chain = this.chain;
    chain.timer = undefined;
    if (this.phase !== 'running') return;
    const kind = chain.due;
    const controller = typeof AbortController === 'function' ? new AbortController() : null;
    const timeout = controller ? setTimeout(() => controller.abort(), TIMEOUT_MS) : undefined;
    /** @type {Inflight} */
    const req = { controller, timeout, seq: this.stream.seq };
    chain.inflight = req;
    const outcome = await this.exchange(kind, this.state.pagePath, controller);
    clearTimeout(req.timeout);
    if (chain.inflight !== req) return; // superseded (route change, pagehide, stop): stale answer
    chain.inflight = null;
    this.settle(kind, req, outcome);
  }

  /**
   * One request on the wire. Never throws: a network error, the timeout or an answer that is
   * not a snapshot comes back as `error` (with the answer, when there was one).
   * @param {Kind} kind
   * @param {string} page
   * @param {AbortController | null} controller
   * @returns {Promise<Outcome>}
   */
  async exchange(kind, page, controller) {
    /** @type {Response | undefined} */
    let res;
    let body;
    try {
      const given = this.headers(kind !== 'poll');
      const h = isThenable(given) ? await given : given;
      if (kind === 'heartbeat' && this.streamIsLive()) h.Prefer = 'return=minimal';
      /** @type {RequestInit & { headers: HeaderMap }} */
      const init = { method: kind === 'poll' ? 'GET' : 'POST', credentials: 'include', headers: h };
      if (controller) init.signal = controller.signal;
      let url = this.base + '/api/presence/' + kind;
      if (kind === 'poll') {
        url = this.base + '/api/presence/list?pagePath=' + encodeURIComponent(page);
        if (this.shown.etag) init.headers['If-None-Match'] = this.shown.etag;
      } else {
        // join reads no isEditing (a new tab starts not editing); heartbeat sets it.
        init.body = JSON.stringify(kind === 'join' ? { pagePath: page, tabId: this.tabId } : { pagePath: page, tabId: this.tabId, isEditing: this.state.isEditing });
      }
      const answer = await this.fetch(url, init);
      res = answer;
      if (answer.status !== 304 && answer.status !== 204) body = await answer.json().catch((e) => { if (answer.ok) throw e; });
      if (answer.status === 200 && !isSnapshot(body)) throw new Error('presence: the answer is not a snapshot');
      return { res, body };
    } catch (error) {
      return { res, body, error };
    }
  }

  /**
   * What an answer means for the chain.
   * @param {Kind} kind
   * @param {Inflight} req
   * @param {Outcome} outcome
   */
  settle(kind, req, { res, body, error }) {
    if (error || !res) return this.failed(kind, /** @type {Error} */ (error), res);
    if (res.status === 401) return this.unauthorized(res, body);
    if (res.status === 200 || res.status === 204 || res.status === 304) {
      return this.succeeded(kind, res, body, req.seq === this.stream.seq);
    }
    // Any other 4xx (400, 404, 413, 415 …) is an answer about the request itself: sending it
    // again cannot help. 408 and 429 are about timing, so those are retried.
    if (res.status >= 400 && res.status < 500 && res.status !== 408 && res.status !== 429) {
      return this.refused(kind, res, body);
    }
    this.failed(kind, httpError(kind, res, body), res);
  }

  /**
   * fresh: no stream snapshot arrived since the request was sent, so its answer is not older
   * than what we show. (A stale one is dropped: the stream has brought a newer list.)
   * @param {Kind} kind
   * @param {Response} res
   * @param {Snapshot | undefined} body  a snapshot when the status is 200
   * @param {boolean} fresh
   */
  succeeded(kind, res, body, fresh) {
    const chain = this.chain;
    chain.failures = 0;
    /** @type {Partial<PresenceState>} */
    const patch = { status: 'live', error: undefined };
    if (res.status === 200 && fresh && body) Object.assign(patch, this.snapshotPatch(body, res.headers.get('ETag')));
    if (res.status === 204 && fresh) this.expectFromStream(res.headers.get('ETag'));
    if (this.state.status !== 'live' || this.state.error || patch.snapshot) this.setState(patch);
    if (kind !== 'poll') chain.nextBeatAt = Date.now() + this.intervalMs();
    // A (re-)join leaves the server's isEditing as it was: say ours at once.
    if (kind === 'join' && this.state.isEditing) chain.urgent = stronger(chain.urgent || 'poll', 'heartbeat');
    this.scheduleNext();
    const next = chain.urgent;
    chain.urgent = null;
    if (next) this.request(next);
    // The server answers and knows us: a good moment to (re)open the stream.
    if (!this.stream.current && Date.now() >= this.stream.retryAt) this.openStream();
  }

  /**
   * @param {Kind} kind
   * @param {Error} error
   * @param {Response | undefined} res  for its Retry-After
   */
  failed(kind, error, res) {
    const chain = this.chain;
    chain.failures += 1;
    const wait = Math.max(backoffMs(chain.failures), retryAfterMs(res));
    this.setState({ status: 'offline', error });
    // Retry the same request (or a stronger one asked for meanwhile) once the wait is over.
    const next = chain.urgent ? stronger(chain.urgent, kind) : kind;
    chain.urgent = null;
    this.schedule(next, wait);
  }

  /**
   * A 4xx that retrying cannot fix: stop sending until setPagePath or setEditing.
   * @param {Kind} kind @param {Response} res @param {any} body
   */
  refused(kind, res, body) {
    this.transition('refused');
    this.chain.failures = 0;
    this.chain.due = kind; // what the app's next change sends (or something stronger)
    this.stopChain();
    this.closeStream();
    this.setState({ status: 'error', error: httpError(kind, res, body), transport: 'poll' });
  }

  /** @param {Response} res @param {any} body */
  unauthorized(res, body) {
    this.transition('unauthorized');
    this.teardown();
    this.setState({ status: 'unauthorized', error: httpError('request', res, body), transport: 'poll' });
  }

  // ---- the stream ------------------------------------------------------------------------

  streamIsLive() {
    return !!(this.stream.current && this.stream.current.live);
  }

  openStream() {
    const EventSourceImpl = this.EventSource;
    if (!this.canStream || !EventSourceImpl || this.stream.current || this.phase !== 'running') return;
    const url = this.base + '/api/presence/stream?pagePath=' + encodeURIComponent(this.state.pagePath);
    let source;
    try {
      source = new EventSourceImpl(url, { withCredentials: true });
    } catch (e) {
      this.streamFailed(null);
      return;
    }
    /** @type {OpenStream} */
    const s = { source, live: false, tagged: false, watchdog: undefined };
    this.stream.current = s;
    // The server sends a snapshot at once; a stream that brings none (a buffering proxy, no
    // free connection) is of no use.
    s.watchdog = setTimeout(() => this.streamFailed(s), TIMEOUT_MS);
    source.addEventListener('snapshot', (event) => this.onStreamSnapshot(s, event));
    for (const type of PERSON_EVENTS) source.addEventListener(type, (event) => this.onStreamPerson(s, type, event));
    // EventSource would reconnect by itself, after `retry`; we poll instead and come back later.
    source.addEventListener('error', () => this.streamFailed(s));
  }

  /** @param {OpenStream} s @param {MessageEvent} event */
  onStreamSnapshot(s, event) {
    if (this.stream.current !== s) return; // closed meanwhile
    let body;
    try { body = JSON.parse(event.data); } catch (e) { /* below */ }
    if (!isSnapshot(body)) return this.streamFailed(s);
    this.stream.seq += 1;
    s.tagged = !!event.lastEventId;
    const patch = this.snapshotPatch(body, event.lastEventId || null);
    if (!s.live) this.streamGoesLive(s, patch);
    if (patch.snapshot || patch.transport) this.setState(patch);
  }

  /**
   * Its first snapshot: the stream is now the source of the list.
   * @param {OpenStream} s @param {Partial<PresenceState>} patch  gets the new transport
   */
  streamGoesLive(s, patch) {
    s.live = true;
    this.stream.failures = 0;
    clearTimeout(s.watchdog);
    s.watchdog = undefined;
    patch.transport = 'stream';
    // Stop polling: the next request of the chain is the heartbeat.
    const chain = this.chain;
    if (chain.timer && chain.due === 'poll' && chain.failures === 0) this.schedule('heartbeat', chain.nextBeatAt - Date.now());
  }

  /**
   * A 204 named the list as it is now. If it is not the one the stream brought last, the
   * stream owes us a snapshot; one that brings nothing in time is stuck: fail it, which
   * polls at once. (Only a stream that tags its snapshots can be checked.)
   * @param {string | null} tag
   */
  expectFromStream(tag) {
    const s = this.stream.current;
    if (!s || !s.live || !s.tagged || !tag || tag === this.shown.etag) return;
    const seq = this.stream.seq;
    setTimeout(() => { if (this.stream.current === s && this.stream.seq === seq) this.streamFailed(s); }, STREAM_LAG_MS);
  }

  /** @param {OpenStream} s @param {PresencePersonEvent} type @param {MessageEvent} event */
  onStreamPerson(s, type, event) {
    if (this.stream.current !== s) return;
    let person;
    try { person = JSON.parse(event.data); } catch (e) { return; }
    if (!person || typeof person.id !== 'string') return;
    for (const listener of [...this.personListeners[type]]) {
      try { listener(person); } catch (e) { console.error(e); }
    }
  }

  /**
   * Close it; when it was our source of the list, poll at once (changes may have been
   * missed), then keep polling until a request succeeds after the back-off: then reopen.
   * @param {OpenStream | null} s  null: it could not even be created
   */
  streamFailed(s) {
    const stream = this.stream;
    if (s && stream.current !== s) return;
    const wasLive = this.closeStream();
    stream.failures += 1;
    stream.retryAt = Date.now() + backoffMs(stream.failures);
    if (!wasLive) return;
    this.setState({ transport: 'poll' });
    const chain = this.chain;
    if (this.phase !== 'running' || chain.failures > 0) return; // a retry is due anyway
    if (!chain.inflight) this.sendNow('poll');
    else if (!chain.urgent) chain.urgent = 'poll'; // its answer may be older than the stream's last snapshot
  }

  // Answers whether the stream was the source of the list.
  closeStream() {
    const s = this.stream.current;
    if (!s) return false;
    this.stream.current = null;
    clearTimeout(s.watchdog);
    try { s.source.close(); } catch (e) { /* closed already */ }
    return s.live;
  }

  // ---- leaving, and the page's events -----------------------------------------------------

  /**
   * Say goodbye. sendBeacon survives the page going away, but it cannot carry an
   * Authorization header, so with a token (or when the beacon is refused) use a keepalive
   * fetch. The string body goes out as text/plain, which the server accepts.
   * @param {string} page
   */
  leave(page) {
    const url = this.base + '/api/presence/leave';
    const body = JSON.stringify({ pagePath: page, tabId: this.tabId });
    const nav = this.nav;
    if (!this.options.token && nav && typeof nav.sendBeacon === 'function') {
      try { if (nav.sendBeacon(url, body)) return; } catch (e) { /* fall back to fetch */ }
    }
    /** @param {HeaderMap} h */
    const post = (h) => this.fetch(url, { method: 'POST', keepalive: true, credentials: 'include', headers: h, body });
    // Failures are ignored: the tab expires after ttlMs anyway.
    try {
      const h = this.headers(true);
      Promise.resolve(isThenable(h) ? h.then(post) : post(h)).catch(() => {});
    } catch (e) { /* a token function that throws: same */ }
  }

  onVisibility() {
    if (!this.isHidden()) this.request('heartbeat');
  }

  onPageHide() {
    if (!this.transition('pagehide')) return;
    this.stopChain();
    this.closeStream();
    this.leave(this.state.pagePath);
    if (this.state.transport !== 'poll') this.setState({ transport: 'poll' });
  }

  /**
   * Back from the back/forward cache: we said goodbye on pagehide, so join again.
   * @param {PageTransitionEvent} event
   */
  onPageShow(event) {
    if (!event || !event.persisted || !this.transition('pageshow')) return;
    this.chain.failures = 0;
    this.stream.failures = 0;
    this.stream.retryAt = 0; // the stream reopens once the join succeeds
    this.sendNow('join');
  }

  // The network is back: retry now instead of waiting out the back-off.
  onOnline() {
    const chain = this.chain;
    if (chain.failures > 0 && !chain.inflight && this.phase === 'running') this.sendNow(chain.due);
  }

  /** @param {boolean} on  follow the page's events, or stop following them */
  listen(on) {
    for (const [target, type, handler] of this.pageEvents) {
      if (!target) continue;
      if (on && target.addEventListener) target.addEventListener(type, handler);
      if (!on && target.removeEventListener) target.removeEventListener(type, handler);
    }
  }

  teardown() {
    this.stopChain();
    this.closeStream();
    this.listen(false);
  }

  // ---- what the app calls ----------------------------------------------------------------

  /** @param {boolean} isEditing */
  setEditing(isEditing) {
    const next = !!isEditing;
    if (next === this.state.isEditing) return;
    this.setState({ isEditing: next });
    // Refused before: a change of the app's is worth one more try (the status stays 'error'
    // until the answer).
    if (this.transition('change')) this.sendNow(stronger(this.chain.due, 'heartbeat'));
    else this.request('heartbeat');
  }

  /** @param {string} pagePath */
  setPagePath(pagePath) {
    if (typeof pagePath !== 'string' || pagePath === this.state.pagePath || this.isOver()) return;
    const old = this.state.pagePath;
    this.abortInflight();
    this.closeStream();
    if (this.phase !== 'paused') this.leave(old);
    this.shown = { etag: null, key: null };
    this.transition('change'); // a page refused is no reason not to try the next one
    this.stream.failures = 0;
    this.stream.retryAt = 0; // the new page's stream opens once its join succeeds
    // Editing mirrors a lock on one page; it does not follow the user to the next page.
    this.setState({ pagePath, viewers: [], editorUserId: undefined, snapshot: undefined, isEditing: false, status: 'connecting', error: undefined, transport: 'poll' });
    // Paused: the join waits for pageshow. Else a navigation is a natural moment to retry,
    // even when backing off.
    if (this.phase === 'paused') this.chain.due = 'join';
    else this.sendNow('join');
  }

  /** @param {(state: PresenceState) => void} listener */
  subscribe(listener) {
    this.listeners.add(listener);
    listener(this.state);
    return () => { this.listeners.delete(listener); };
  }

  /** @param {PresencePersonEvent} type @param {(person: PresencePerson) => void} listener */
  on(type, listener) {
    const listeners = this.personListeners[type];
    if (!listeners) throw new TypeError("presence.on: the event is 'join' or 'leave'");
    listeners.add(listener);
    return () => { listeners.delete(listener); };
  }

  stop() {
    const from = this.phase;
    if (!this.transition('stop')) return;
    // Say goodbye, unless we did on pagehide or the server does not know us (401).
    if (from === 'running' || from === 'halted') this.leave(this.state.pagePath);
    this.teardown();
    this.setState({ status: 'stopped', transport: 'poll' });
  }
}

/**
 * The stronger of two requests (see RANK).
 * @param {Kind} a @param {Kind} b
 * @returns {Kind}
 */
function stronger(a, b) {
  return RANK[a] > RANK[b] ? a : b;
}

/**
 * @template T
 * @param {T | PromiseLike<T>} value
 * @returns {value is PromiseLike<T>}
 */
function isThenable(value) {
  return !!value && typeof (/** @type {any} */ (value).then) === 'function';
}

/**
 * @param {any} body
 * @returns {body is Snapshot}
 */
function isSnapshot(body) {
  return !!body && Array.isArray(body.viewers);
}

/** @param {PresenceOptions['storage']} storage */
function loadTabId(storage) {
  let store = storage;
  try { if (!store) store = globalThis.sessionStorage; } catch (e) { store = undefined; } // blocked storage throws
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

/**
 * 1 s, 2 s, 4 s … capped at 60 s, with "equal jitter" (half fixed, half random) so that many
 * tabs that failed together do not come back together.
 * @param {number} failures
 */
function backoffMs(failures) {
  const cap = Math.min(MAX_BACKOFF_MS, 1000 * 2 ** (failures - 1));
  return Math.round(cap / 2 + Math.random() * (cap / 2));
}

/**
 * Retry-After is seconds or an HTTP date; 0 when absent or unreadable.
 * @param {Response | undefined} res
 */
function retryAfterMs(res) {
  const value = res && res.headers && res.headers.get('Retry-After');
  if (!value) return 0;
  const seconds = Number(value);
  if (Number.isFinite(seconds)) return Math.max(0, seconds * 1000);
  const at = Date.parse(value);
  return Number.isNaN(at) ? 0 : Math.max(0, at - Date.now());
}

/**
 * @param {string} kind  what was asked ('join', 'heartbeat', 'poll' or just 'request')
 * @param {Response} res
 * @param {any} body  the problem document, when there was one
 */
function httpError(kind, res, body) {
  const detail = body && typeof body.detail === 'string' ? body.detail : '';
  /** @type {import('./presence.js').PresenceError} */
  const err = new Error(`presence: ${kind} failed with HTTP ${res.status}${detail ? ': ' + detail : ''}`);
  err.status = res.status;
  if (body) err.problem = body;
  return err;
}
