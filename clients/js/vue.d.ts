import type { Ref, MaybeRefOrGetter } from 'vue';
import type { PresenceOptions, PresenceStatus, PresenceTransport, Snapshot, Viewer } from './presence.js';

export type { PresenceOptions, PresenceStatus, PresenceTransport, Snapshot, Viewer } from './presence.js';

export interface UsePagePresence {
  viewers: Ref<Viewer[]>;
  editorUserId: Ref<string | undefined>;
  /** Writable: setting it is the same as setEditing. */
  isEditing: Ref<boolean>;
  /** The same as `Presence.setEditing`: heartbeats at once when it changes. */
  setEditing(next: boolean): void;
  status: Ref<PresenceStatus>;
  error: Ref<Error | undefined>;
  snapshot: Ref<Snapshot | undefined>;
  /** 'stream' while the list comes from the server-sent events stream, else 'poll'. */
  transport: Ref<PresenceTransport>;
  /** Set once started (on mount). */
  tabId: Ref<string | undefined>;
  /** Leave and stop before unmount (it also happens on unmount). */
  stop(): void;
}

/**
 * Presence of the current user on `pagePath` (a string, a ref or a getter such as
 * `() => route.path`; a change leaves the old page and joins the new one). Starts on mount,
 * client-side only, and stops on unmount (or when the effect scope is disposed).
 */
export function usePagePresence(
  pagePath: MaybeRefOrGetter<string>,
  options?: Omit<PresenceOptions, 'pagePath'>,
): UsePagePresence;
