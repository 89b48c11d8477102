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

/** Who came or went: the `join` and `leave` events of the stream. */
export interface PresencePerson {
  id: string;
  name: string;
  avatar?: string;
  role?: string;
  /** `#rrggbb`, a stable function of the user id. */
  color: string;
}

/**
 * - `connecting`: no answer yet (at start and after a route change);
 * - `live`: the last request succeeded;
 * - `offline`: requests fail; retrying with back-off (see `error`);
 * - `error`: the server refused a request with a 4xx that retrying cannot fix (400, 404, 413,
 *   415 …; not 401, 408 or 429); nothing is sent until `setPagePath` or `setEditing` (see `error`);
 * - `unauthorized`: the server answered 401; nothing more is sent (sign in and create a new client);
 * - `stopped`: `stop()` was called.
 */
export type PresenceStatus = 'connecting' | 'live' | 'offline' | 'error' | 'unauthorized' | 'stopped';

/**
 * Where the viewer list comes from: `stream` while the server-sent events stream is open and
 * has delivered a snapshot; `poll` otherwise (polls between heartbeats).
 */
export type PresenceTransport = 'stream' | 'poll';

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
  transport: PresenceTransport;
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
  /**
   * `auto` (the default): the viewer list comes from `GET /api/presence/stream` (server-sent
   * events) when EventSource exists and no `token` is given, else from polling. `poll`:
   * always poll. Heartbeats are sent either way.
   */
  transport?: 'auto' | 'poll';
  /** Default globalThis.EventSource; `null` never streams (like `transport: 'poll'`). */
  EventSource?: { new (url: string, init?: EventSourceInit): EventSource } | null;
  window?: Window;
  document?: Document;
  navigator?: Navigator;
}

export type PresencePersonEvent = 'join' | 'leave';

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
  /**
   * Calls `listener` with the person who joined the page (their first tab) or left it (their
   * last tab, by leaving or by expiry). Only while `state.transport` is `stream`: polling does
   * not see these moments (compare `viewers` yourself if you need them then). Events about
   * the current user come too (its `id` is that of the viewer with `isCurrentUser`).
   * Returns unsubscribe.
   */
  on(type: PresencePersonEvent, listener: (person: PresencePerson) => void): () => void;
  /** Leaves (beacon) and stops all timers and listeners; status becomes 'stopped'. */
  stop(): void;
}

export function createPresence(options: PresenceOptions): Presence;
