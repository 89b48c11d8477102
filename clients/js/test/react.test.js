// @vitest-environment happy-dom
import { describe, it, expect, vi, beforeAll } from 'vitest';
import { createElement as h, act, StrictMode, useState } from 'react';
import { createRoot } from 'react-dom/client';
import { usePagePresence } from '../react.js';
import { fakeServer, fakeEnv, fakeStorage, fakeEventSources } from './fake.js';

beforeAll(() => { globalThis.IS_REACT_ACT_ENVIRONMENT = true; });

describe('React usePagePresence', () => {
  it('renders the viewers, follows the page path and editing, and stops on unmount', async () => {
    const server = fakeServer();
    const env = fakeEnv();
    const options = { fetch: server.fetch, storage: fakeStorage(), window: env.window, document: env.document, navigator: env.navigator };
    let presence;
    let setPath;
    function Viewers() {
      const [path, set] = useState('/docs/a');
      setPath = set;
      presence = usePagePresence(path, options);
      return h('ul', { 'data-status': presence.status }, presence.viewers.map((v) =>
        h('li', { key: v.id }, `${v.name}${v.isCurrentUser ? ' (you)' : ''}${v.id === presence.editorUserId ? ' editing' : ''}`)));
    }
    const el = document.createElement('div');
    const root = createRoot(el);
    await act(async () => { root.render(h(StrictMode, null, h(Viewers))); });
    await act(async () => {});
    expect(el.querySelector('ul').dataset.status).toBe('live');
    expect(el.textContent).toBe('Alice (you)');
    // StrictMode mounts twice: the first client left, the second one is live, one tab id.
    expect(new Set(server.calls.filter((c) => c.init.body).map((c) => JSON.parse(c.init.body).tabId)).size).toBe(1);

    const setEditing = presence.setEditing;
    await act(async () => { presence.setEditing(true); });
    expect(server.ops().at(-1)).toBe('heartbeat');
    expect(server.body(server.calls.length - 1).isEditing).toBe(true);
    expect(el.textContent).toBe('Alice (you) editing');
    expect(presence.isEditing).toBe(true);
    expect(presence.setEditing).toBe(setEditing);

    const beacons = env.navigator.sendBeacon.mock.calls.length;
    await act(async () => { setPath('/docs/b'); });
    expect(env.navigator.sendBeacon).toHaveBeenCalledTimes(beacons + 1);
    expect(JSON.parse(env.navigator.sendBeacon.mock.calls.at(-1)[1]).pagePath).toBe('/docs/a');
    expect(server.ops().at(-1)).toBe('join');
    expect(server.body(server.calls.length - 1).pagePath).toBe('/docs/b');
    expect(presence.snapshot.pagePath).toBe('/docs/b');
    expect(presence.isEditing).toBe(false);

    const n = server.calls.length;
    await act(async () => { root.unmount(); });
    expect(env.navigator.sendBeacon).toHaveBeenCalledTimes(beacons + 2);
    expect(JSON.parse(env.navigator.sendBeacon.mock.calls.at(-1)[1]).pagePath).toBe('/docs/b');
    env.setVisibility('visible');
    await new Promise((r) => setTimeout(r, 20));
    expect(server.calls).toHaveLength(n);
  });

  it('says where the list comes from: transport follows the stream', async () => {
    const server = fakeServer();
    const env = fakeEnv();
    const sse = fakeEventSources();
    const options = { fetch: server.fetch, storage: fakeStorage(), window: env.window, document: env.document, navigator: env.navigator, EventSource: sse.EventSource };
    let presence;
    function Viewers() {
      presence = usePagePresence('/docs/a', options);
      return h('ul', { 'data-transport': presence.transport }, presence.viewers.map((v) => h('li', { key: v.id }, v.name)));
    }
    const el = document.createElement('div');
    const root = createRoot(el);
    await act(async () => { root.render(h(Viewers)); });
    await act(async () => {});
    expect(el.querySelector('ul').dataset.transport).toBe('poll');
    expect(sse.openOnes()).toHaveLength(1);
    server.others.set('/docs/a', [{ id: 'u2', name: 'Bob', tabCount: 1, color: '#123456', isEditing: false, joinedAt: '2026-11-21T09:59:00Z', isCurrentUser: false }]);
    await act(async () => { sse.last.emit('snapshot', server.snapshot('/docs/a')); });
    expect(el.querySelector('ul').dataset.transport).toBe('stream');
    expect(el.textContent).toBe('BobAlice');
    await act(async () => { root.unmount(); });
    expect(sse.openOnes()).toHaveLength(0);
  });
});
