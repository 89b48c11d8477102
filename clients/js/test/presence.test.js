import { describe, it, expect, vi, beforeEach, afterEach } from 'vitest';
import { createPresence } from '../presence.js';
import { fakeServer, fakeEnv, fakeStorage, fakeEventSources, response } from './fake.js';

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

  it('retries 408 like a failure, backing off', async () => {
    vi.spyOn(Math, 'random').mockReturnValue(1);
    server.script.push(response(408, undefined), response(408, undefined));
    start();
    await tick();
    expect(presence.status).toBe('offline');
    await tick(3000);
    expect(server.ops()).toEqual(['join', 'join', 'join']);
    await tick();
    expect(presence.status).toBe('live');
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

describe('a 4xx that retrying cannot fix', () => {
  const problem = { type: 'urn:presence:problem:validation', title: 'Invalid request', status: 400, detail: 'bad pagePath', errors: [{ field: 'pagePath', message: 'must start with "/"' }] };

  it('says error, keeps the problem, and sends nothing more until the page changes', async () => {
    server.script.push(response(400, problem));
    const states = [];
    start({ pagePath: 'docs' });
    presence.subscribe((s) => states.push(s.status));
    await tick();
    expect(presence.status).toBe('error');
    expect(presence.state.error.status).toBe(400);
    expect(presence.state.error.message).toContain('bad pagePath');
    expect(presence.state.error.problem.errors[0].field).toBe('pagePath');
    expect(vi.getTimerCount()).toBe(0);
    env.window.dispatchEvent(new Event('online'));
    env.setVisibility('visible');
    await tick(10 * 60000);
    expect(server.ops()).toEqual(['join']);
    expect(states).toEqual(['connecting', 'error']);

    presence.setPagePath('/docs/a');
    expect(server.ops()).toEqual(['join', 'join']);
    await tick();
    expect(presence.status).toBe('live');
    expect(presence.state.error).toBeUndefined();
    await tick(15000);
    expect(server.ops()).toEqual(['join', 'join', 'list', 'heartbeat']);
  });

  it.each([404, 413, 415, 422])('a heartbeat refused with %i: setEditing tries once more', async (status) => {
    start();
    await tick(7500);
    server.script.push(response(status, { status, title: 'No', detail: `refused ${status}` }));
    await tick(7500);
    expect(server.ops()).toEqual(['join', 'list', 'heartbeat']);
    expect(presence.status).toBe('error');
    expect(presence.state.error.status).toBe(status);
    await tick(10 * 60000);
    expect(server.calls).toHaveLength(3);

    server.script.push(response(status, { status, title: 'No', detail: 'again' }));
    presence.setEditing(true);
    expect(server.ops()).toEqual(['join', 'list', 'heartbeat', 'heartbeat']);
    expect(server.body(3).isEditing).toBe(true);
    await tick(10 * 60000);
    expect(presence.status).toBe('error');
    expect(presence.state.error.message).toContain('again');
    expect(server.calls).toHaveLength(4);

    presence.setEditing(false);
    await tick();
    expect(server.ops().at(-1)).toBe('heartbeat');
    expect(presence.status).toBe('live');
    expect(presence.state.error).toBeUndefined();
  });

  it('after a refused join, setEditing sends the join again (then the heartbeat saying editing)', async () => {
    server.script.push(response(404, { status: 404, title: 'Not Found', detail: 'no such page' }));
    start();
    await tick(60000);
    expect(server.ops()).toEqual(['join']);
    presence.setEditing(true);
    expect(server.ops()).toEqual(['join', 'join']);
    await tick();
    expect(server.ops()).toEqual(['join', 'join', 'heartbeat']);
    expect(server.body(2).isEditing).toBe(true);
    expect(presence.status).toBe('live');
  });

  it('a refused request while backing off is not retried either', async () => {
    vi.spyOn(Math, 'random').mockReturnValue(1);
    server.script.push(new Error('down'), response(413, undefined));
    start();
    await tick(1000);
    expect(server.ops()).toEqual(['join', 'join']);
    expect(presence.status).toBe('error');
    expect(presence.state.error.status).toBe(413);
    await tick(10 * 60000);
    expect(server.calls).toHaveLength(2);
  });
});

// Every way out of each phase of the lifecycle (running, halted, paused, unauthorized,
// stopped), including the ones the tests above do not take.
describe('the lifecycle', () => {
  const refusal = () => response(400, { status: 400, title: 'Invalid request', detail: 'no' });

  it('halted, then pagehide: says goodbye; pageshow joins again', async () => {
    server.script.push(refusal());
    start();
    await tick();
    expect(presence.status).toBe('error');
    env.pagehide(true);
    expect(env.navigator.sendBeacon).toHaveBeenCalledTimes(1);
    env.pageshow(true);
    expect(server.ops()).toEqual(['join', 'join']);
    await tick();
    expect(presence.status).toBe('live');
  });

  it('halted, then stop(): says goodbye', async () => {
    server.script.push(refusal());
    start();
    await tick();
    presence.stop();
    expect(env.navigator.sendBeacon).toHaveBeenCalledTimes(1);
    expect(presence.status).toBe('stopped');
  });

  it('paused: a route change and editing wait for pageshow, which joins the new page', async () => {
    start();
    await tick();
    env.pagehide(true);
    presence.setPagePath('/docs/b');
    presence.setEditing(true);
    env.window.dispatchEvent(new Event('online'));
    env.setVisibility('visible');
    await tick(60000);
    expect(server.ops()).toEqual(['join']);
    expect(env.navigator.sendBeacon).toHaveBeenCalledTimes(1); // /docs/a, at pagehide only
    expect(presence.state.pagePath).toBe('/docs/b');
    env.pagehide(true); // a second one: nothing
    expect(env.navigator.sendBeacon).toHaveBeenCalledTimes(1);
    env.pageshow(true);
    expect(server.ops()).toEqual(['join', 'join']);
    expect(server.body(1)).toEqual({ pagePath: '/docs/b', tabId: presence.tabId });
    await tick();
    expect(server.ops()).toEqual(['join', 'join', 'heartbeat']);
    expect(server.body(2).isEditing).toBe(true);
    expect(presence.status).toBe('live');
  });

  it('paused, then stop(): no second goodbye', async () => {
    start();
    await tick();
    env.pagehide(true);
    presence.stop();
    expect(env.navigator.sendBeacon).toHaveBeenCalledTimes(1);
    expect(presence.status).toBe('stopped');
    env.pageshow(true);
    expect(server.ops()).toEqual(['join']);
  });

  it('unauthorized, then stop(): says stopped, without a goodbye', async () => {
    server.script.push(response(401, { status: 401, title: 'Not signed in', detail: 'expired' }));
    start();
    await tick();
    expect(presence.status).toBe('unauthorized');
    presence.stop();
    expect(presence.status).toBe('stopped');
    expect(env.navigator.sendBeacon).not.toHaveBeenCalled();
    expect(server.ops()).toEqual(['join']);
  });
});

describe('the stream (server-sent events)', () => {
  let sse;
  const bob = { id: 'u2', name: 'Bob', tabCount: 1, color: '#123456', isEditing: false, joinedAt: '2026-11-21T09:59:00Z', isCurrentUser: false };
  const withBob = () => { server.others.set('/docs/a', [bob]); return server.snapshot('/docs/a'); };
  const startStreaming = (options) => start({ EventSource: sse.EventSource, ...options });
  // Joined, with the stream open and its first snapshot shown.
  async function live(options) {
    startStreaming(options);
    await tick();
    sse.last.open();
    sse.last.emit('snapshot', server.snapshot('/docs/a'));
    expect(presence.state.transport).toBe('stream');
  }

  beforeEach(() => { sse = fakeEventSources(); });

  it('opens after the first successful join, on the page, with credentials', async () => {
    server.script.push(new Error('down'));
    vi.spyOn(Math, 'random').mockReturnValue(1);
    startStreaming({ pagePath: '/docs/a b' });
    await tick();
    expect(sse.instances).toHaveLength(0); // the join failed: no stream yet
    expect(presence.state.transport).toBe('poll');
    await tick(1000);
    expect(presence.status).toBe('live');
    expect(sse.instances).toHaveLength(1);
    expect(sse.last.url).toBe('/api/presence/stream?pagePath=%2Fdocs%2Fa%20b');
    expect(sse.last.withCredentials).toBe(true);
    expect(presence.state.transport).toBe('poll'); // until the first snapshot
    presence.stop();
    sse = fakeEventSources();
    server = fakeServer();
    startStreaming({ baseUrl: 'https://presence.example.com/' });
    await tick();
    expect(sse.last.url).toBe('https://presence.example.com/api/presence/stream?pagePath=%2Fdocs%2Fa');
  });

  it('takes the viewers from its snapshots and stops polling; heartbeats go on', async () => {
    await live();
    const seen = [];
    presence.subscribe((s) => seen.push(s));
    sse.last.emit('snapshot', withBob());
    expect(presence.viewers.map((v) => v.name)).toEqual(['Bob', 'Alice']);
    expect(presence.state.snapshot).toEqual(server.snapshot('/docs/a'));
    expect(seen).toHaveLength(2);
    sse.last.emit('snapshot', server.snapshot('/docs/a')); // the same again: no change
    expect(seen).toHaveLength(2);
    presence.setEditing(true);
    expect(server.ops()).toEqual(['join', 'heartbeat']);
    await tick(60000);
    expect(server.ops()).toEqual(['join', 'heartbeat', 'heartbeat', 'heartbeat', 'heartbeat', 'heartbeat']);
    expect(server.body(5)).toEqual({ pagePath: '/docs/a', tabId: presence.tabId, isEditing: true });
    expect(sse.openOnes()).toHaveLength(1);
    expect(presence.status).toBe('live');
  });

  it('stops a poll already scheduled once the first snapshot arrives', async () => {
    startStreaming();
    await tick(5000); // stream not delivering yet: the poll at 7.5 s is scheduled
    sse.last.emit('snapshot', server.snapshot('/docs/a'));
    await tick(10000);
    expect(server.ops()).toEqual(['join', 'heartbeat']);
    expect(server.calls[1].at).toBe(Date.parse('2026-11-21T10:00:15Z'));
  });

  it('shows a heartbeat answer newer than its last snapshot, and drops one that may be older', async () => {
    await live();
    // A stream that went quiet, and a server that does not apply `Prefer: return=minimal`:
    // the heartbeat's answer brings the change.
    await tick(15000 - 1);
    server.script.push(() => response(200, withBob(), { ETag: '"bob"' }));
    await tick(1);
    expect(server.ops()).toEqual(['join', 'heartbeat']);
    expect(presence.viewers.map((v) => v.name)).toEqual(['Bob', 'Alice']);

    // A heartbeat on the wire while the stream brings a newer list: its answer is dropped.
    let release;
    const old = server.snapshot('/docs/a');
    server.script.push(() => new Promise((r) => { release = () => r(response(200, old, { ETag: '"old"' })); }));
    await tick(15000);
    server.others.set('/docs/a', []);
    sse.last.emit('snapshot', server.snapshot('/docs/a'));
    expect(presence.viewers.map((v) => v.name)).toEqual(['Alice']);
    release();
    await tick();
    expect(presence.viewers.map((v) => v.name)).toEqual(['Alice']);
    expect(presence.status).toBe('live');
  });

  it('heartbeats with Prefer: return=minimal while it is open, and takes the 204 as a success', async () => {
    await live();
    const before = presence.state;
    await tick(15000);
    expect(server.ops()).toEqual(['join', 'heartbeat']);
    expect(server.calls[0].init.headers.Prefer).toBeUndefined(); // the join: no stream yet
    expect(server.calls[1].init.headers.Prefer).toBe('return=minimal');
    expect((await server.fetch.mock.results[1].value).status).toBe(204);
    expect(presence.state).toBe(before);
    presence.setEditing(true);
    expect(server.calls[2].init.headers.Prefer).toBe('return=minimal');
    expect(server.body(2).isEditing).toBe(true);
    await tick(15000);
    expect(server.ops()).toEqual(['join', 'heartbeat', 'heartbeat', 'heartbeat']);
    expect(presence.status).toBe('live');
  });

  it('fails a stream that does not bring the list a heartbeat named, and polls', async () => {
    vi.spyOn(Math, 'random').mockReturnValue(1);
    startStreaming();
    await tick();
    const tagged = (snap) => sse.last.emit('snapshot', snap, server.etagOf(snap));
    tagged(server.snapshot('/docs/a'));
    await tick(15000); // a 204 naming the list the stream brought: nothing to do
    expect(server.ops()).toEqual(['join', 'heartbeat']);
    expect(sse.openOnes()).toHaveLength(1);

    // Bob comes; the stream brings it within the lag: still fine.
    await tick(14000);
    const first = sse.last;
    server.others.set('/docs/a', [bob]);
    await tick(1000);
    await tick(1000);
    tagged(server.snapshot('/docs/a'));
    await tick(5000);
    expect(sse.openOnes()).toEqual([first]);

    // Bob goes, and the stream stays silent: the next 204 names a list it never brought.
    server.others.set('/docs/a', []);
    await tick(10000);
    expect(server.ops()).toEqual(['join', 'heartbeat', 'heartbeat', 'heartbeat']);
    expect(presence.viewers.map((v) => v.name)).toEqual(['Bob', 'Alice']);
    await tick(2000);
    expect(first.closed).toBe(true);
    expect(server.ops().at(-1)).toBe('list');
    expect(presence.viewers.map((v) => v.name)).toEqual(['Alice']);
    expect(presence.state.transport).toBe('poll');
  });

  it('heartbeats without the preference when the stream does not bring the list', async () => {
    vi.spyOn(Math, 'random').mockReturnValue(1);
    await live();
    sse.last.fail(); // polls at once, and at 7.5 s, which reopens it
    await tick(15000);
    expect(server.ops()).toEqual(['join', 'list', 'list', 'heartbeat']);
    expect(sse.instances).toHaveLength(2);
    expect(presence.state.transport).toBe('poll'); // open, but no snapshot yet
    expect(server.calls.every((call) => call.init.headers.Prefer === undefined)).toBe(true);
    expect((await server.fetch.mock.results[3].value).status).toBe(200);
  });

  it('passes join and leave to on() listeners, not to subscribers', async () => {
    vi.spyOn(console, 'error').mockImplementation(() => {});
    await live();
    const joins = [];
    const leaves = [];
    const state = vi.fn();
    presence.subscribe(state);
    presence.on('join', () => { throw new Error('boom'); });
    const off = presence.on('join', (p) => joins.push(p));
    presence.on('leave', (p) => leaves.push(p));
    const person = { id: 'u2', name: 'Bob', color: '#123456', role: 'Editor' };
    sse.last.emit('join', person);
    expect(joins).toEqual([person]);
    expect(console.error).toHaveBeenCalled();
    sse.last.emit('leave', { id: 'u2', name: 'Bob', color: '#123456' });
    expect(leaves).toEqual([{ id: 'u2', name: 'Bob', color: '#123456' }]);
    off();
    sse.last.emit('join', person);
    sse.last.emit('join', 'not json');
    expect(joins).toHaveLength(1);
    expect(state).toHaveBeenCalledTimes(1); // at subscribe only
    expect(() => presence.on('change', () => {})).toThrow(TypeError);
  });

  it('on an error: closes it, polls at once, and reopens after a back-off, at a later success', async () => {
    vi.spyOn(Math, 'random').mockReturnValue(1);
    await live();
    await tick(1000);
    withBob();
    sse.last.fail();
    expect(sse.last.closed).toBe(true); // no reconnecting by itself
    expect(presence.state.transport).toBe('poll');
    expect(server.ops()).toEqual(['join', 'list']);
    await tick();
    expect(presence.viewers.map((v) => v.name)).toEqual(['Bob', 'Alice']); // missed changes, caught up
    expect(sse.instances).toHaveLength(1); // not at once: 1 s of back-off
    await tick(6499);
    expect(sse.instances).toHaveLength(1);
    await tick(1); // the next poll (7.5 s) succeeds: reopen
    expect(server.ops()).toEqual(['join', 'list', 'list']);
    expect(sse.instances).toHaveLength(2);
    expect(sse.last.url).toBe('/api/presence/stream?pagePath=%2Fdocs%2Fa');
    sse.last.emit('snapshot', server.snapshot('/docs/a'));
    expect(presence.state.transport).toBe('stream');
    await tick(30000);
    expect(server.ops()).toEqual(['join', 'list', 'list', 'heartbeat', 'heartbeat']);
  });

  it('an error while a request is on the wire: asks again right after it', async () => {
    await live();
    let release;
    const old = server.snapshot('/docs/a');
    server.script.push(() => new Promise((r) => { release = () => r(response(200, old, { ETag: '"old"' })); }));
    await tick(15000); // the heartbeat hangs
    sse.last.emit('snapshot', withBob());
    sse.last.fail();
    expect(server.ops()).toEqual(['join', 'heartbeat']); // one request at a time
    release();
    await tick();
    expect(server.ops()).toEqual(['join', 'heartbeat', 'list']);
    expect(presence.viewers.map((v) => v.name)).toEqual(['Bob', 'Alice']);
    expect(server.maxInFlight).toBe(1);
  });

  it('keeps polling while the stream fails, and tries it again less and less often', async () => {
    vi.spyOn(Math, 'random').mockReturnValue(1);
    startStreaming();
    for (let t = 0; t < 20 * 60000; t += 500) {
      for (const es of sse.openOnes()) es.fail(2); // refused (a proxy that answers 502, say)
      await tick(500);
    }
    const opened = sse.instances.map((es) => es.at);
    expect(server.ops().filter((op) => op === 'list')).toHaveLength(80); // polling all along
    expect(presence.state.transport).toBe('poll');
    expect(presence.status).toBe('live');
    // Tried at the first success 1, 2, 4 … 60 s after each failure: gaps of 7.5 s (polls and
    // heartbeats alternate) growing to about a minute.
    const gaps = opened.slice(1).map((t, i) => t - opened[i]);
    expect(gaps.slice(0, 4)).toEqual([7500, 7500, 7500, 15000]);
    expect(gaps.every((g, i) => i === 0 || g >= gaps[i - 1])).toBe(true);
    expect(gaps.at(-1)).toBe(60000);
    expect(opened).toHaveLength(25); // then one a minute
  });

  it('gives up on a stream that brings no snapshot within 10 s (polling never stopped)', async () => {
    startStreaming();
    await tick();
    sse.last.open();
    await tick(7500);
    expect(server.ops()).toEqual(['join', 'list']);
    expect(sse.last.closed).toBe(false);
    await tick(2500);
    expect(sse.last.closed).toBe(true);
    expect(server.ops()).toEqual(['join', 'list']); // it was not the source: no extra poll
    await tick(5000);
    expect(server.ops()).toEqual(['join', 'list', 'heartbeat']);
    expect(sse.instances).toHaveLength(2); // reopened at the heartbeat's success
  });

  it('a snapshot that is not one counts as a stream error', async () => {
    await live();
    sse.last.emit('snapshot', '{"nope":');
    expect(sse.last.closed).toBe(true);
    expect(presence.state.transport).toBe('poll');
    expect(server.ops()).toEqual(['join', 'list']);
  });

  it('closes on setPagePath and opens the new page\'s stream after its join', async () => {
    await live();
    const first = sse.last;
    presence.setPagePath('/docs/b');
    expect(first.closed).toBe(true);
    expect(presence.state.transport).toBe('poll');
    first.emit('snapshot', withBob()); // a late event of the closed stream: ignored
    expect(presence.viewers).toEqual([]);
    await tick();
    expect(sse.instances).toHaveLength(2);
    expect(sse.last.url).toBe('/api/presence/stream?pagePath=%2Fdocs%2Fb');
    sse.last.emit('snapshot', server.snapshot('/docs/b'));
    expect(presence.state.snapshot.pagePath).toBe('/docs/b');
    expect(presence.state.transport).toBe('stream');
  });

  it('closes on stop(), leaving no timer behind', async () => {
    startStreaming();
    await tick(); // open, watchdog running
    presence.stop();
    expect(sse.last.closed).toBe(true);
    expect(vi.getTimerCount()).toBe(0);
    expect(presence.state.transport).toBe('poll');
  });

  it('closes on 401 and never reopens', async () => {
    await live();
    server.script.push(response(401, { status: 401, title: 'Not signed in', detail: 'expired' }));
    await tick(15000);
    expect(presence.status).toBe('unauthorized');
    expect(sse.last.closed).toBe(true);
    expect(presence.state.transport).toBe('poll');
    expect(vi.getTimerCount()).toBe(0);
    await tick(10 * 60000);
    expect(sse.instances).toHaveLength(1);
  });

  it('a stream that fails because the session is gone: the fallback poll finds the 401', async () => {
    await live();
    server.script.push(response(401, { status: 401, title: 'Not signed in', detail: 'expired' }));
    sse.last.fail(2);
    await tick();
    expect(server.ops()).toEqual(['join', 'list']);
    expect(presence.status).toBe('unauthorized');
    await tick(10 * 60000);
    expect(sse.instances).toHaveLength(1);
  });

  it('closes on a refused request (4xx) until the app changes something', async () => {
    await live();
    server.script.push(response(400, { status: 400, title: 'Invalid request', detail: 'no' }));
    await tick(15000);
    expect(presence.status).toBe('error');
    expect(sse.last.closed).toBe(true);
    await tick(60000);
    expect(sse.instances).toHaveLength(1);
    presence.setEditing(true);
    await tick();
    expect(presence.status).toBe('live');
    expect(sse.instances).toHaveLength(2);
  });

  it('closes on pagehide and reopens after the join on pageshow from the back/forward cache', async () => {
    await live();
    env.pagehide(true);
    expect(sse.last.closed).toBe(true);
    expect(presence.state.transport).toBe('poll');
    await tick(60000);
    expect(sse.instances).toHaveLength(1);
    env.pageshow(true);
    expect(sse.instances).toHaveLength(1);
    await tick();
    expect(server.ops().at(-1)).toBe('join');
    expect(sse.instances).toHaveLength(2);
    expect(sse.last.closed).toBe(false);
  });

  it('never streams with a token, with transport \'poll\', or without EventSource', async () => {
    for (const options of [{ token: 'jwt' }, { token: () => 'jwt' }, { transport: 'poll' }, { EventSource: null }]) {
      presence?.stop();
      server = fakeServer();
      startStreaming(options);
      await tick(20000);
      expect(server.ops()).toEqual(['join', 'list', 'heartbeat']);
      expect(presence.state.transport).toBe('poll');
      expect(server.calls[2].init.headers.Prefer).toBeUndefined();
    }
    expect(sse.instances).toHaveLength(0);
    expect(() => startStreaming({ transport: 'sse' })).toThrow(TypeError);
  });
});
