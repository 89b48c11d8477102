import type { PresenceOptions, PresenceStatus, PresenceTransport, Snapshot, Viewer } from './presence.js';

export type { PresenceOptions, PresenceStatus, PresenceTransport, Snapshot, Viewer } from './presence.js';

export interface UsePagePresence {
  viewers: Viewer[];
  editorUserId: string | undefined;
  isEditing: boolean;
  /** Stable across renders. */
  setEditing(next: boolean): void;
  status: PresenceStatus;
  error: Error | undefined;
  snapshot: Snapshot | undefined;
  /** 'stream' while the list comes from the server-sent events stream, else 'poll'. */
  transport: PresenceTransport;
  /** Set once the effect has started the client. */
  tabId: string | undefined;
}

/**
 * Presence of the current user on `pagePath`. Starts in an effect (client-side only) and
 * stops on unmount; a new `pagePath` leaves the old page and joins the new one. `options`
 * are read once, at mount.
 */
export function usePagePresence(pagePath: string, options?: Omit<PresenceOptions, 'pagePath'>): UsePagePresence;
