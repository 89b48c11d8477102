// @vitest-environment happy-dom
import { describe, it, expect, vi } from 'vitest';
import { createApp, defineComponent, h, nextTick, ref, effectScope } from 'vue';
import { usePagePresence } from '../vue.js';
import { fakeServer, fakeEnv, fakeStorage, fakeEventSources } from './fake.js';

describe('Vue usePagePresence', () => {
  it('renders the viewers, follows the page path and editing, and stops on unmount', async () => {
    const server = fakeServer();
    const env = fakeEnv();
    const path = ref('/docs/a');
    let presence;
    const Viewers = defineComponent({
      setup() {
        presence = usePagePresence(path, { fetch: server.fetch, storage: fakeStorage(), window: env.window, document: env.document, navigator: env.navigator });
        return () => h('ul', { 'data-status': presence.status.value }, presence.viewers.value.map((v) =>
          h('li', { key: v.id }, `${v.name}${v.isCurrentUser ? ' (you)' : ''}${v.id === presence.editorUserId.value ? ' editing' : ''}`)));
      },
    });
    const el = document.createElement('div');
    const app = createApp(Viewers);
    app.mount(el);
    expect(server.ops()).toEqual(['join']);
    await vi.waitFor(() => expect(el.querySelector('ul').dataset.status).toBe('live'));
    expect(el.textContent).toBe('Alice (you)');
    expect(presence.tabId.value).toBe(server.body(0).tabId);

    presence.setEditing(true);
    expect(server.ops()).toEqual(['join', 'heartbeat']);
    expect(server.body(1).isEditing).toBe(true);
    await vi.waitFor(() => expect(el.textContent).toBe('Alice (you) editing'));
    expect(presence.isEditing.value).toBe(true);

    path.value = '/docs/b';
    await nextTick();
    expect(env.navigator.sendBeacon).toHaveBeenCalledTimes(1);
    expect(server.ops().at(-1)).toBe('join');
    expect(server.body(server.calls.length - 1).pagePath).toBe('/docs/b');
    expect(presence.isEditing.value).toBe(false);
    await vi.waitFor(() => expect(presence.snapshot.value?.pagePath).toBe('/docs/b'));

    const n = server.calls.length;
    app.unmount();
    expect(env.navigator.sendBeacon).toHaveBeenCalledTimes(2);
    expect(JSON.parse(env.navigator.sendBeacon.mock.calls[1][1]).pagePath).toBe('/docs/b');
    expect(presence.status.value).toBe('stopped');
    presence.setEditing(true);
    expect(server.calls).toHaveLength(n);
  });

  it('outside a component, starts at once and stops with its effect scope', async () => {
    const server = fakeServer();
    const env = fakeEnv();
    const scope = effectScope();
    const presence = scope.run(() => usePagePresence(() => '/docs/a', { fetch: server.fetch, storage: fakeStorage(), window: env.window, document: env.document, navigator: env.navigator }));
    expect(server.ops()).toEqual(['join']);
    await vi.waitFor(() => expect(presence.viewers.value).toHaveLength(1));
    scope.stop();
    expect(presence.status.value).toBe('stopped');
    expect(env.navigator.sendBeacon).toHaveBeenCalledTimes(1);
  });

  it('says where the list comes from: transport follows the stream', async () => {
    const server = fakeServer();
    const env = fakeEnv();
    const sse = fakeEventSources();
    const scope = effectScope();
    const presence = scope.run(() => usePagePresence('/docs/a', { fetch: server.fetch, storage: fakeStorage(), window: env.window, document: env.document, navigator: env.navigator, EventSource: sse.EventSource }));
    expect(presence.transport.value).toBe('poll');
    await vi.waitFor(() => expect(sse.instances).toHaveLength(1));
    server.others.set('/docs/a', [{ id: 'u2', name: 'Bob', tabCount: 1, color: '#123456', isEditing: false, joinedAt: '2026-11-21T09:59:00Z', isCurrentUser: false }]);
    sse.last.emit('snapshot', server.snapshot('/docs/a'));
    expect(presence.transport.value).toBe('stream');
    expect(presence.viewers.value.map((v) => v.name)).toEqual(['Bob', 'Alice']);
    scope.stop();
    expect(sse.last.closed).toBe(true);
    expect(presence.transport.value).toBe('poll');
  });
});
