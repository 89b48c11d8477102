// Vue 3 composable over presence.js: usePagePresence(pagePath, options?).
// Starts on mount (never during SSR) and stops on unmount; outside a component it starts at
// once and stops when the surrounding effect scope is disposed.
import { ref, shallowRef, watch, unref, getCurrentInstance, getCurrentScope, onMounted, onBeforeUnmount, onScopeDispose } from 'vue';
import { createPresence } from './presence.js';

/**
 * @import { MaybeRefOrGetter } from 'vue'
 * @import { Presence, PresenceOptions, PresenceStatus, PresenceTransport, Snapshot, Viewer } from './presence.js'
 * @import { UsePagePresence } from './vue.js'
 */

/**
 * @param {MaybeRefOrGetter<string>} pagePath
 * @param {Omit<PresenceOptions, 'pagePath'>} [options]
 * @returns {UsePagePresence}
 */
export function usePagePresence(pagePath, options = {}) {
  const viewers = shallowRef(/** @type {Viewer[]} */ ([]));
  const editorUserId = ref(/** @type {string | undefined} */ (undefined));
  const isEditing = ref(false);
  const status = ref(/** @type {PresenceStatus} */ ('connecting'));
  const error = shallowRef(/** @type {Error | undefined} */ (undefined));
  const snapshot = shallowRef(/** @type {Snapshot | undefined} */ (undefined));
  const transport = ref(/** @type {PresenceTransport} */ ('poll'));
  const tabId = ref(/** @type {string | undefined} */ (undefined));
  /** @type {Presence | null} */
  let presence = null;
  /** @type {(() => void) | null} */
  let unsubscribe = null;

  // pagePath may be a string, a ref or a getter (e.g. () => route.path).
  const currentPath = () => (typeof pagePath === 'function' ? pagePath() : unref(pagePath));

  function start() {
    if (presence || typeof window === 'undefined') return;
    presence = createPresence({ ...options, pagePath: currentPath() });
    tabId.value = presence.tabId;
    if (isEditing.value) presence.setEditing(true); // set before mount
    unsubscribe = presence.subscribe((s) => {
      viewers.value = s.viewers;
      editorUserId.value = s.editorUserId;
      isEditing.value = s.isEditing;
      status.value = s.status;
      error.value = s.error;
      snapshot.value = s.snapshot;
      transport.value = s.transport;
    });
  }

  function stop() {
    if (!presence) return;
    if (unsubscribe) unsubscribe();
    presence.stop();
    presence = null;
    status.value = 'stopped';
    transport.value = 'poll';
  }

  /** @param {boolean} next */
  function setEditing(next) {
    isEditing.value = !!next;
  }

  // Writing isEditing.value directly works too (e.g. v-model or mirroring an edit lock).
  watch(isEditing, (next) => { if (presence) presence.setEditing(next); }, { flush: 'sync' });
  if (typeof pagePath !== 'string') {
    watch(currentPath, (next) => { if (presence && typeof next === 'string') presence.setPagePath(next); });
  }

  if (getCurrentInstance()) {
    onMounted(start);
    onBeforeUnmount(stop);
  } else {
    start();
    if (getCurrentScope()) onScopeDispose(stop);
  }

  return { viewers, editorUserId, isEditing, setEditing, status, error, snapshot, transport, tabId, stop };
}
