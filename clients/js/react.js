// React hook over presence.js: usePagePresence(pagePath, options?).
// The client is made in an effect (never during SSR), stopped on unmount; a new pagePath
// leaves the old page and joins the new one. Options are read once, at mount.
import { useCallback, useEffect, useRef, useState } from 'react';
import { createPresence } from './presence.js';

/**
 * @import { Presence, PresenceOptions, PresenceState } from './presence.js'
 * @import { UsePagePresence } from './react.js'
 */

/**
 * What the hook renders from: the client's last state, with no tab id until it has started.
 * @typedef {Omit<PresenceState, 'pagePath' | 'tabId'> & { tabId: string | undefined }} HookState
 */

/** @type {HookState} */
const INITIAL = { viewers: [], editorUserId: undefined, isEditing: false, status: 'connecting', error: undefined, snapshot: undefined, transport: 'poll', tabId: undefined };

/**
 * @param {string} pagePath
 * @param {Omit<PresenceOptions, 'pagePath'>} [options]
 * @returns {UsePagePresence}
 */
export function usePagePresence(pagePath, options) {
  const [state, setState] = useState(INITIAL);
  const presenceRef = useRef(/** @type {Presence | null} */ (null));
  const pathRef = useRef(pagePath);
  const optionsRef = useRef(options);
  const editingRef = useRef(false);
  pathRef.current = pagePath;
  optionsRef.current = options;

  useEffect(() => {
    const presence = createPresence({ ...optionsRef.current, pagePath: pathRef.current });
    presenceRef.current = presence;
    if (editingRef.current) presence.setEditing(true); // set before the effect ran (or StrictMode re-mount)
    const unsubscribe = presence.subscribe((s) => {
      editingRef.current = s.isEditing;
      setState(s);
    });
    return () => {
      unsubscribe();
      presence.stop();
      presenceRef.current = null;
    };
  }, []);

  useEffect(() => {
    if (presenceRef.current) presenceRef.current.setPagePath(pagePath);
  }, [pagePath]);

  const setEditing = useCallback((/** @type {boolean} */ next) => {
    editingRef.current = !!next;
    if (presenceRef.current) presenceRef.current.setEditing(!!next);
    else setState((s) => ({ ...s, isEditing: !!next }));
  }, []);

  return {
    viewers: state.viewers,
    editorUserId: state.editorUserId,
    isEditing: state.isEditing,
    setEditing,
    status: state.status,
    error: state.error,
    snapshot: state.snapshot,
    transport: state.transport,
    tabId: state.tabId,
  };
}
