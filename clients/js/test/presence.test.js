import { describe, it, expect, vi, beforeEach, afterEach } from 'vitest';
import { createPresence } from '../presence.js';
import { fakeServer, fakeEnv, fakeStorage, response } from './fake.js';

let server, env, storage, presence;

function start(options = {}) {
  presence = createPresence({
    pagePath: '/docs/a', fetch: server.fetch, storage,
    window: env.window, document: env.document, navigator: env.navigator, ...options,
  });
  return presence;
}
const tick = (ms = 0) => vi.advanceTimersByTimeAsync(ms);

beforeEach(() => {
  vi.useFakeTimers({ now: new Date('2026-11-21T10:00:00Z') });
  server = fakeServer();
  env = fakeEnv();
  storage = fakeStorage();
});
afterEach(() => {
  presence?.stop();
  presence = undefined;
  vi.restoreAllMocks();
  vi.useRealTimers();
});

describe('start', () => {
  it('joins at once with a new tab id and keeps the id in storage', async () => {
    start();
    expect(server.ops()).toEqual(['join']);
    const { url, init } = server.calls[0];
    expect(url).toBe('/api/presence/join');
    expect(init.method).toBe('POST');
    expect(init.credentials).toBe('include');
    expect(init.headers['Content-Type']).toBe('application/json');
    expect(init.headers.Authorization).toBeUndefined();
    expect(JSON.parse(init.body)).toEqual({ pagePath: '/docs/a', tabId: presence.tabId });
    expect(presence.tabId).toMatch(/^[0-9a-f-]{36}$/);
    expect(storage.data.get('presence:tab-id')).toBe(presence.tabId);
    expect(presence.status).toBe('connecting');
    await tick();
    expect(presence.status).toBe('live');
    expect(presence.viewers.map((v) => v.id)).toEqual(['u1']);
    expect(presence.state.snapshot.heartbeatIntervalMs).toBe(15000);
  });

  it('reuses the tab id found in storage (a reload keeps the tab)', () => {
    storage = fakeStorage({ 'presence:tab-id': 'tab-from-before' });
    start();
    expect(presence.tabId).toBe('tab-from-before');
    expect(server.body(0).tabId).toBe('tab-from-before');
    expect(storage.setItem).not.toHaveBeenCalled();
  });

  it('still works when storage throws', () => {
    storage = { getItem() { throw new Error('denied'); }, setItem() { throw new Error('denied'); } };
    start();
    expect(presence.tabId).toMatch(/^[0-9a-f-]{36}$/);
  });

  it('uses baseUrl and a bearer token (string or async function)', async () => {
    start({ baseUrl: 'https://presence.example.com/', token: async () => 'jwt-1' });
    await tick();
    expect(server.calls[0].url).toBe('https://presence.example.com/api/presence/join');
    expect(server.calls[0].init.headers.Authorization).toBe('Bearer jwt-1');
    presence.stop();
    server = fakeServer();
    start({ token: 'jwt-2' });
    expect(server.calls[0].init.headers.Authorization).toBe('Bearer jwt-2');
  });

  it('requires a pagePath', () => {
    expect(() => createPresence({})).toThrow(TypeError);
  });
});

describe('heartbeat and polling', () => {
  it('heartbeats every heartbeatIntervalMs the server gives, polling half-way', async () => {
    server = fakeServer({ interval: 4000 });
    start();
    await tick();
    expect(server.ops()).toEqual(['join']);
    await tick(1999);
    expect(server.ops()).toEqual(['join']);
    await tick(1);
    expect(server.ops()).toEqual(['join', 'list']);
    await tick(2000);
    expect(server.ops()).toEqual(['join', 'list', 'heartbeat']);
    await tick(4000);
    expect(server.ops()).toEqual(['join', 'list', 'heartbeat', 'list', 'heartbeat']);
    const beats = server.calls.filter((c) => c.op !== 'list').map((c) => c.at);
    expect(beats[2] - beats[1]).toBe(4000);
    expect(server.body(2)).toEqual({ pagePath: '/docs/a', tabId: presence.tabId, isEditing: false });
  });

  it('defaults to 15 s before the server has said otherwise', async () => {
    server.script.push(new Error('offline')); // no snapshot yet
    start();
    await tick();
    await tick(1000); // retry join
    await tick(7500);
    expect(server.ops()).toEqual(['join', 'join', 'list']);
    await tick(7500);
    expect(server.ops().at(-1)).toBe('heartbeat');
  });

  it('polls with If-None-Match and keeps the state on 304', async () => {
    start();
    await tick();
    const listener = vi.fn();
    presence.subscribe(listener);
    expect(listener).toHaveBeenCalledTimes(1);
    const before = presence.state;
    const etag = server.calls[0].init && (await server.fetch.mock.results[0].value).headers.get('ETag');
    await tick(7500);
    const poll = server.calls[1];
    expect(poll.op).toBe('list');
    expect(poll.url).toBe('/api/presence/list?pagePath=%2Fdocs%2Fa');
    expect(poll.init.method).toBe('GET');
    expect(poll.init.credentials).toBe('include');
    expect(poll.init.headers['If-None-Match']).toBe(etag);
    expect((await server.fetch.mock.results[1].value).status).toBe(304);
    expect(presence.state).toBe(before);
    expect(listener).toHaveBeenCalledTimes(1);
  });

  it('shows what a poll brings when the page changed', async () => {
    start();
    await tick();
    server.others.set('/docs/a', [{ id: 'u2', name: 'Bob', tabCount: 1, color: '#123456', isEditing: true, joinedAt: '2026-11-21T09:59:00Z', isCurrentUser: false }]);
    await tick(7500);
    expect(presence.viewers.map((v) => v.name)).toEqual(['Bob', 'Alice']);
    expect(presence.editorUserId).toBe('u2');
    expect(presence.status).toBe('live');
  });

  it('a heartbeat answer with the same ETag does not change the state', async () => {
    start();
    await tick();
    const before = presence.state;
    await tick(15000);
    expect(server.ops()).toEqual(['join', 'list', 'heartbeat']);
    expect(presence.state).toBe(before);
  });

  it('heartbeats at once when the tab becomes visible, and skips polls while hidden', async () => {
    start();
    await tick();
    env.setVisibility('hidden');
    await tick(15000); // the poll at 7.5 s still happens (scheduled while visible), then a heartbeat
    const n = server.calls.length;
    await tick(15000);
    expect(server.ops().slice(n)).toEqual(['heartbeat']); // hidden: no poll in between
    env.setVisibility('visible');
    expect(server.ops().slice(n)).toEqual(['heartbeat', 'heartbeat']);
    expect(server.calls.at(-1).at).toBe(server.calls.at(-2).at);
  });

  it('heartbeats at once when editing changes, and only then', async () => {
    start();
    await tick();
    presence.setEditing(true);
    expect(server.ops()).toEqual(['join', 'heartbeat']);
    expect(server.body(1).isEditing).toBe(true);
    expect(presence.isEditing).toBe(true);
    presence.setEditing(true);
    expect(server.calls).toHaveLength(2);
    await tick();
    expect(presence.editorUserId).toBe('u1');
    presence.setEditing(false);
    expect(server.body(2).isEditing).toBe(false);
    await tick();
    expect(presence.editorUserId).toBeUndefined();
  });

  it('queues a heartbeat asked for while a request is on the wire (never two at once)', async () => {
    let release;
    server.script.push((url, init) => new Promise((r) => { release = () => r(response(200, server.snapshot('/docs/a'), { ETag: '"1"' })); }));
    start();
    presence.setEditing(true);
    env.setVisibility('visible');
    expect(server.ops()).toEqual(['join']);
    release();
    await tick();
    expect(server.ops()).toEqual(['join', 'heartbeat']);
    expect(server.body(1).isEditing).toBe(true);
    expect(server.maxInFlight).toBe(1);
  });
});

describe('failures', () => {
  it('backs off exponentially, capped at 60 s, one request at a time, and recovers', async () => {
    vi.spyOn(Math, 'random').mockReturnValue(1); // jitter at its top: delay = the cap of each step
    for (let i = 0; i < 9; i++) server.script.push(new TypeError('Failed to fetch'));
    const states = [];
    start();
    presence.subscribe((s) => states.push(s.status));
    await tick();
    expect(presence.status).toBe('offline');
    expect(presence.state.error).toBeInstanceOf(TypeError);
    await tick(10 * 60000);
    const joins = server.calls.map((c) => c.at);
    const gaps = joins.slice(1, 10).map((t, i) => t - joins[i]);
    expect(gaps).toEqual([1000, 2000, 4000, 8000, 16000, 32000, 60000, 60000, 60000]);
    expect(server.ops().slice(0, 10)).toEqual(Array(10).fill('join'));
    expect(server.maxInFlight).toBe(1);
    expect(presence.status).toBe('live');
    expect(presence.state.error).toBeUndefined();
    expect(states[0]).toBe('connecting');
    expect(states).toContain('offline');
    expect(states.at(-1)).toBe('live');
  });

  it('jitters the back-off between half and all of each step', async () => {
    vi.spyOn(Math, 'random').mockReturnValue(0);
    server.script.push(new Error('x'), new Error('x'), new Error('x'));
    start();
    await tick(10000);
    const t = server.calls.map((c) => c.at);
    expect([t[1] - t[0], t[2] - t[1], t[3] - t[2]]).toEqual([500, 1000, 2000]);
  });

  it('backs off on 5xx and honours Retry-After', async () => {
    server.script.push(response(503, { status: 503, detail: 'db down' }, { 'Retry-After': '30' }));
    start();
    await tick();
    expect(presence.status).toBe('offline');
    expect(presence.state.error.status).toBe(503);
    expect(presence.state.error.message).toContain('db down');
    await tick(29999);
    expect(server.calls).toHaveLength(1);
    await tick(1);
    expect(server.ops()).toEqual(['join', 'join']);
    await tick();
    expect(presence.status).toBe('live');
  });

  it('honours Retry-After on 429, also as an HTTP date', async () => {
    const at = new Date(Date.now() + 20000).toUTCString();
    server.script.push(response(429, undefined, { 'Retry-After': at }));
    start();
    await tick(19999);
    expect(server.calls).toHaveLength(1);
    await tick(1);
    expect(server.calls).toHaveLength(2);
  });

  it('a failed heartbeat is retried as a heartbeat, and editing asked meanwhile rides on the retry', async () => {
    vi.spyOn(Math, 'random').mockReturnValue(1);
    start();
    await tick(7500);
    server.script.push(new Error('down'));
    await tick(7500);
    expect(server.ops()).toEqual(['join', 'list', 'heartbeat']);
    presence.setEditing(true); // backing off: no extra request now
    env.setVisibility('visible');
    expect(server.calls).toHaveLength(3);
    await tick(1000);
    expect(server.ops()).toEqual(['join', 'list', 'heartbeat', 'heartbeat']);
    expect(server.body(3).isEditing).toBe(true);
  });

  it('treats other 4xx like a failure: error in state, backing off', async () => {
    vi.spyOn(Math, 'random').mockReturnValue(1);
    const problem = { type: 'urn:presence:problem:validation', title: 'Invalid request', status: 400, detail: 'bad pagePath', errors: [{ field: 'pagePath', message: 'must start with "/"' }] };
    for (let i = 0; i < 5; i++) server.script.push(response(400, problem));
    start({ pagePath: 'docs' });
    await tick();
    expect(presence.status).toBe('offline');
    expect(presence.state.error.status).toBe(400);
    expect(presence.state.error.problem.errors[0].field).toBe('pagePath');
    await tick(30000);
    expect(server.calls).toHaveLength(5); // 0, 1, 3, 7, 15 s
  });

  it('retries at once when the browser says it is online again', async () => {
    server.script.push(new Error('down'));
    start();
    await tick();
    env.window.dispatchEvent(new Event('online'));
    expect(server.ops()).toEqual(['join', 'join']);
    await tick();
    expect(presence.status).toBe('live');
  });

  it('401 stops everything and says unauthorized', async () => {
    start();
    await tick(7500);
    server.script.push(response(401, { type: 'urn:presence:problem:unauthorized', title: 'Not signed in', status: 401, detail: 'expired' }, { 'WWW-Authenticate': 'Bearer' }));
    await tick(7500);
    expect(presence.status).toBe('unauthorized');
    expect(presence.state.error).toBeInstanceOf(Error);
    expect(presence.state.error.status).toBe(401);
    const n = server.calls.length;
    presence.setEditing(true);
    env.setVisibility('visible');
    env.pagehide();
    env.pageshow(true);
    presence.setPagePath('/docs/b');
    await tick(10 * 60000);
    expect(server.calls).toHaveLength(n);
    expect(env.navigator.sendBeacon).not.toHaveBeenCalled();
    expect(vi.getTimerCount()).toBe(0);
  });
});

describe('leaving', () => {
  it('a route change leaves the old page, then joins the new one', async () => {
    start();
    await tick();
    presence.setEditing(true);
    await tick();
    presence.setPagePath('/docs/b');
    expect(env.navigator.sendBeacon).toHaveBeenCalledWith('/api/presence/leave', JSON.stringify({ pagePath: '/docs/a', tabId: presence.tabId }));
    expect(server.ops().at(-1)).toBe('join');
    expect(server.body(server.calls.length - 1)).toEqual({ pagePath: '/docs/b', tabId: presence.tabId });
    expect(presence.state.pagePath).toBe('/docs/b');
    expect(presence.isEditing).toBe(false);
    expect(presence.viewers).toEqual([]);
    expect(presence.status).toBe('connecting');
    await tick();
    expect(presence.state.snapshot.pagePath).toBe('/docs/b');
    presence.setPagePath('/docs/b'); // same page: nothing
    expect(env.navigator.sendBeacon).toHaveBeenCalledTimes(1);
  });

  it('a route change drops the answer of a request still on the wire for the old page', async () => {
    let release;
    start();
    await tick();
    server.script.push(() => new Promise((r) => { release = () => r(response(200, server.snapshot('/docs/a'), { ETag: '"old"' })); }));
    await tick(7500); // poll for /docs/a hangs
    presence.setPagePath('/docs/b');
    await tick();
    release();
    await tick();
    expect(presence.state.snapshot.pagePath).toBe('/docs/b');
    expect(presence.state.pagePath).toBe('/docs/b');
  });

  it('leaves on pagehide with sendBeacon and a string body, and sends nothing more', async () => {
    start();
    await tick();
    env.pagehide(true);
    expect(env.navigator.sendBeacon).toHaveBeenCalledTimes(1);
    const [url, body] = env.navigator.sendBeacon.mock.calls[0];
    expect(url).toBe('/api/presence/leave');
    expect(typeof body).toBe('string');
    expect(JSON.parse(body)).toEqual({ pagePath: '/docs/a', tabId: presence.tabId });
    const n = server.calls.length;
    await tick(60000);
    env.setVisibility('visible');
    expect(server.calls).toHaveLength(n);
  });

  it('re-joins on pageshow from the back/forward cache, and re-says it is editing', async () => {
    start();
    await tick();
    presence.setEditing(true);
    await tick();
    env.pagehide(true);
    env.pageshow(false); // a fresh load is not ours to handle
    expect(server.ops()).toEqual(['join', 'heartbeat']);
    env.pageshow(true);
    expect(server.ops()).toEqual(['join', 'heartbeat', 'join']);
    await tick();
    expect(server.ops()).toEqual(['join', 'heartbeat', 'join', 'heartbeat']);
    expect(server.body(3).isEditing).toBe(true);
    expect(presence.status).toBe('live');
  });

  it('with a token, leaves with a keepalive fetch carrying the header (no beacon)', async () => {
    start({ token: 'jwt' });
    await tick();
    env.pagehide();
    await tick();
    expect(env.navigator.sendBeacon).not.toHaveBeenCalled();
    const leave = server.calls.at(-1);
    expect(leave.op).toBe('leave');
    expect(leave.init).toMatchObject({ method: 'POST', keepalive: true, credentials: 'include' });
    expect(leave.init.headers.Authorization).toBe('Bearer jwt');
    expect(JSON.parse(leave.init.body)).toEqual({ pagePath: '/docs/a', tabId: presence.tabId });
  });

  it('falls back to a keepalive fetch when sendBeacon refuses or is missing', async () => {
    env.navigator.sendBeacon.mockReturnValue(false);
    start();
    await tick();
    env.pagehide();
    await tick();
    expect(env.navigator.sendBeacon).toHaveBeenCalledTimes(1);
    expect(server.calls.at(-1)).toMatchObject({ op: 'leave', init: { keepalive: true } });
    presence.stop();
    server = fakeServer();
    env = fakeEnv();
    delete env.navigator.sendBeacon;
    start();
    presence.stop();
    await tick();
    expect(server.ops()).toEqual(['join', 'leave']);
  });

  it('stop() leaves, clears every timer and listener, and says stopped', async () => {
    start();
    await tick();
    const listener = vi.fn();
    presence.subscribe(listener);
    presence.stop();
    expect(env.navigator.sendBeacon).toHaveBeenCalledTimes(1);
    expect(presence.status).toBe('stopped');
    expect(listener).toHaveBeenLastCalledWith(expect.objectContaining({ status: 'stopped' }));
    expect(vi.getTimerCount()).toBe(0);
    const n = server.calls.length;
    env.setVisibility('visible');
    env.pagehide();
    env.pageshow(true);
    presence.setEditing(true);
    await tick(60000);
    expect(server.calls).toHaveLength(n);
    presence.stop(); // twice is fine
    expect(env.navigator.sendBeacon).toHaveBeenCalledTimes(1);
  });
});

describe('subscribe', () => {
  it('calls at once, then on every change, until unsubscribed', async () => {
    start();
    const seen = [];
    const unsubscribe = presence.subscribe((s) => seen.push(s));
    expect(seen).toHaveLength(1);
    expect(seen[0]).toMatchObject({ pagePath: '/docs/a', tabId: presence.tabId, viewers: [], isEditing: false, status: 'connecting' });
    await tick();
    expect(seen).toHaveLength(2);
    expect(seen[1].status).toBe('live');
    expect(seen[1].viewers[0]).toMatchObject({ id: 'u1', isCurrentUser: true });
    expect(seen[1]).toBe(presence.state);
    unsubscribe();
    presence.setEditing(true);
    await tick();
    expect(seen).toHaveLength(2);
  });

  it('a throwing listener does not break the others', async () => {
    vi.spyOn(console, 'error').mockImplementation(() => {});
    start();
    const good = vi.fn();
    presence.subscribe((s) => { if (s.status === 'live') throw new Error('boom'); });
    presence.subscribe(good);
    await tick();
    expect(good).toHaveBeenLastCalledWith(expect.objectContaining({ status: 'live' }));
    expect(console.error).toHaveBeenCalled();
  });
});

describe('robustness', () => {
  it('gives up on a request that hangs, and backs off', async () => {
    vi.spyOn(Math, 'random').mockReturnValue(1);
    server.script.push((url, init) => new Promise((_, reject) => {
      init.signal.addEventListener('abort', () => reject(new DOMException('aborted', 'AbortError')));
    }));
    start();
    await tick(9999);
    expect(presence.status).toBe('connecting');
    await tick(1);
    expect(presence.status).toBe('offline');
    expect(presence.state.error.name).toBe('AbortError');
    await tick(1000);
    expect(server.ops()).toEqual(['join', 'join']);
    await tick();
    expect(presence.status).toBe('live');
  });

  it('treats a 200 that is not a snapshot as a failure', async () => {
    server.script.push(response(200, null), response(200, { nope: true }));
    start();
    await tick();
    expect(presence.status).toBe('offline');
    await tick(60000);
    expect(presence.status).toBe('live');
    expect(server.ops().slice(0, 3)).toEqual(['join', 'join', 'join']);
  });
});
