// Types for presence.js, the browser client of the presence service.

/** One user on the page (many tabs of one user are one viewer). */
export interface Viewer {
  id: string;
  name: string;
  /** An http(s) URL of the user's picture; absent when there is none. */
  avatar?: string;
  /** How many live tabs this user has on the page. */
  tabCount: number;
  role?: string;
  /** `#rrggbb`, a stable function of the user id. */
  color: string;
  isEditing: boolean;
  /** RFC 3339, UTC, whole seconds: when the user's earliest live tab joined. */
  joinedAt: string;
  /** Whether this viewer is the caller, so a UI can say "You" or hide itself. */
  isCurrentUser: boolean;
}

/** What every join, heartbeat and list answers. */
export interface Snapshot {
  /** The page as the server names it (normalized). */
  pagePath: string;
  viewers: Viewer[];
  editorUserId?: string;
  viewerCount: number;
  tabCount: number;
  ttlMs: number;
  heartbeatIntervalMs: number;
}

/**
 * - `connecting`: no answer yet (at start and after a route change);
 * - `live`: the last request succeeded;
 * - `offline`: requests fail; retrying with back-off (see `error`);
 * - `unauthorized`: the server answered 401; nothing more is sent (sign in and create a new client);
 * - `stopped`: `stop()` was called.
 */
export type PresenceStatus = 'connecting' | 'live' | 'offline' | 'unauthorized' | 'stopped';

/** Errors in `PresenceState.error` carry the HTTP status and problem document when there was one. */
export interface PresenceError extends Error {
  status?: number;
  problem?: { type: string; title: string; status: number; detail: string; errors?: { field: string; message: string }[] };
}

export interface PresenceState {
  /** The page path as given to `createPresence` / `setPagePath` (not normalized). */
  pagePath: string;
  tabId: string;
  viewers: Viewer[];
  editorUserId?: string;
  isEditing: boolean;
  status: PresenceStatus;
  error?: Error | PresenceError;
  /** The server's last snapshot of the page. */
  snapshot?: Snapshot;
}

export interface PresenceOptions {
  pagePath: string;
  /** Default '' (same origin); e.g. 'https://presence.example.com'. */
  baseUrl?: string;
  /** Default globalThis.fetch. */
  fetch?: typeof fetch;
  /** A bearer token (or a function giving one) instead of the cookie session. */
  token?: string | (() => string | Promise<string>);
  /** Where the tab id is kept; default sessionStorage. */
  storage?: Pick<Storage, 'getItem' | 'setItem'>;
  window?: Window;
  document?: Document;
  navigator?: Navigator;
}

export interface Presence {
  readonly tabId: string;
  readonly state: PresenceState;
  readonly viewers: Viewer[];
  readonly editorUserId?: string;
  readonly isEditing: boolean;
  readonly status: PresenceStatus;
  /** Heartbeats at once when it changes. */
  setEditing(isEditing: boolean): void;
  /** Route change: leaves the old page and joins the new one (editing resets to false). */
  setPagePath(pagePath: string): void;
  /** Calls `listener` at once with the current state, then on every change. Returns unsubscribe. */
  subscribe(listener: (state: PresenceState) => void): () => void;
  /** Leaves (beacon) and stops all timers and listeners; status becomes 'stopped'. */
  stop(): void;
}

export function createPresence(options: PresenceOptions): Presence;
