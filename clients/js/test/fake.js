// A fake presence server behind a fake fetch, plus fake window/document/navigator/storage.
import { vi } from 'vitest';

export function fakeStorage(initial = {}) {
  const data = new Map(Object.entries(initial));
  return {
    data,
    getItem: vi.fn((k) => (data.has(k) ? data.get(k) : null)),
    setItem: vi.fn((k, v) => { data.set(k, String(v)); }),
  };
}

export function response(status, body, headers = {}) {
  return {
    status,
    ok: status >= 200 && status < 300,
    headers: new Headers(headers),
    json: () => (body === undefined ? Promise.reject(new SyntaxError('no body')) : Promise.resolve(body)),
  };
}

// A tiny in-memory server: join/heartbeat/leave/list on pages, snapshots with ETags (a join
// or heartbeat with `Prefer: return=minimal` answers 204 with the ETag alone).
// `script` is a queue of overrides: each entry answers the next request instead of the server
// (an Error rejects the fetch; a function gets (url, init) and returns a response or a promise).
export function fakeServer({ interval = 15000, me = { id: 'u1', name: 'Alice' } } = {}) {
  const pages = new Map(); // pagePath -> Map(tabId -> {user, isEditing})
  const others = new Map(); // pagePath -> [viewer]
  const calls = [];
  const script = [];
  let inFlight = 0;
  let maxInFlight = 0;

  function snapshot(pagePath) {
    const tabs = pages.get(pagePath) || new Map();
    const viewers = [...(others.get(pagePath) || [])];
    if (tabs.size) {
      const isEditing = [...tabs.values()].some((t) => t.isEditing);
      viewers.push({ id: me.id, name: me.name, tabCount: tabs.size, color: '#e8590c', isEditing, joinedAt: '2026-11-21T10:00:00Z', isCurrentUser: true });
    }
    const editor = viewers.find((v) => v.isEditing);
    const snap = { pagePath, viewers, viewerCount: viewers.length, tabCount: viewers.reduce((n, v) => n + v.tabCount, 0), ttlMs: interval * 3, heartbeatIntervalMs: interval };
    if (editor) snap.editorUserId = editor.id;
    return snap;
  }
  const etagOf = (snap) => '"' + hash(JSON.stringify(snap)) + '"';

  function answer(url, init) {
    const u = new URL(url, 'http://presence.test');
    const op = u.pathname.replace('/api/presence/', '');
    if (op === 'list') {
      const snap = snapshot(u.searchParams.get('pagePath'));
      const tag = etagOf(snap);
      if (init.headers && init.headers['If-None-Match'] === tag) return response(304, undefined, { ETag: tag });
      return response(200, snap, { ETag: tag });
    }
    const body = JSON.parse(init.body);
    const tabs = pages.get(body.pagePath) || new Map();
    pages.set(body.pagePath, tabs);
    if (op === 'join') tabs.set(body.tabId, { isEditing: tabs.get(body.tabId)?.isEditing || false });
    if (op === 'heartbeat') tabs.set(body.tabId, { isEditing: !!body.isEditing });
    if (op === 'leave') tabs.delete(body.tabId);
    const snap = snapshot(body.pagePath);
    if (op !== 'leave' && init.headers && init.headers.Prefer === 'return=minimal') {
      return response(204, undefined, { ETag: etagOf(snap), 'Preference-Applied': 'return=minimal' });
    }
    return response(200, snap, { ETag: etagOf(snap) });
  }

  const fetch = vi.fn(async (url, init = {}) => {
    calls.push({ url, init, at: Date.now(), op: opOf(url) });
    inFlight += 1;
    maxInFlight = Math.max(maxInFlight, inFlight);
    try {
      const next = script.shift();
      if (next instanceof Error) throw next;
      if (typeof next === 'function') return await next(url, init);
      if (next) return next;
      return answer(url, init);
    } finally {
      inFlight -= 1;
    }
  });

  return {
    fetch, calls, script, pages, others, snapshot, etagOf,
    get maxInFlight() { return maxInFlight; },
    ops: () => calls.map((c) => c.op),
    body: (i) => JSON.parse(calls[i].init.body),
  };
}

function opOf(url) {
  const u = new URL(url, 'http://presence.test');
  return u.pathname.replace('/api/presence/', '');
}

function hash(s) {
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) h = Math.imul(h ^ s.charCodeAt(i), 0x01000193) >>> 0;
  return h.toString(16).padStart(16, '0');
}

export function fakeEnv() {
  const window = new EventTarget();
  const document = new EventTarget();
  document.visibilityState = 'visible';
  const navigator = { sendBeacon: vi.fn(() => true) };
  return {
    window, document, navigator,
    setVisibility(v) { document.visibilityState = v; document.dispatchEvent(new Event('visibilitychange')); },
    pagehide(persisted = false) { window.dispatchEvent(Object.assign(new Event('pagehide'), { persisted })); },
    pageshow(persisted = true) { window.dispatchEvent(Object.assign(new Event('pageshow'), { persisted })); },
  };
}

// A fake EventSource: records every instance; the test plays the server (open, emit, fail).
export function fakeEventSources() {
  const instances = [];
  class FakeEventSource extends EventTarget {
    constructor(url, init) {
      super();
      this.url = url;
      this.withCredentials = !!(init && init.withCredentials);
      this.readyState = FakeEventSource.CONNECTING;
      this.closed = false;
      this.at = Date.now();
      instances.push(this);
    }
    close() {
      this.readyState = FakeEventSource.CLOSED;
      this.closed = true;
    }
    // ---- the server's side
    open() {
      this.readyState = FakeEventSource.OPEN;
      this.dispatchEvent(new Event('open'));
    }
    // Works on a closed one too, to show that a late event is ignored.
    emit(type, data, lastEventId = '') {
      this.dispatchEvent(new MessageEvent(type, { data: typeof data === 'string' ? data : JSON.stringify(data), lastEventId }));
    }
    // A network error: a real EventSource would reconnect by itself (CONNECTING); a refused
    // answer (401, not text/event-stream) closes it (CLOSED). Both fire 'error'.
    fail(readyState = FakeEventSource.CONNECTING) {
      this.readyState = readyState;
      this.dispatchEvent(new Event('error'));
    }
  }
  FakeEventSource.CONNECTING = 0;
  FakeEventSource.OPEN = 1;
  FakeEventSource.CLOSED = 2;
  return {
    EventSource: FakeEventSource,
    instances,
    get last() { return instances.at(-1); },
    openOnes: () => instances.filter((es) => !es.closed),
  };
}
