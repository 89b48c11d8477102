//! `GET /api/presence/stream`: a page's snapshot, and who joins and leaves, as server-sent
//! events, so a client sees changes without polling.

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use actix_web::http::header;
use actix_web::web::{self, Bytes};
use actix_web::HttpResponse;
use tokio::sync::broadcast::error::RecvError;
use tokio::sync::{broadcast, mpsc};
use tokio::time::{interval_at, sleep_until, Instant};

use crate::domain::{UserId, Version};
use crate::error::{ApiError, Result};
use crate::http::extract::CurrentUser;
use crate::http::extract::PageQuery;
use crate::limits::StreamSlot;
use crate::metrics::{OpenStream, StoreOperation};
use crate::snapshot::{ETag, Person, View};
use crate::state::AppState;
use crate::store::events::PageEvent;

/// Snapshots of one stream are at least this far apart; changes in between are merged.
const COALESCE: Duration = Duration::from_millis(250);
/// How long `EventSource` waits before reconnecting, sent to it at the start.
const RECONNECT_MS: u32 = 3000;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(web::resource("/api/presence/stream").route(web::get().to(stream)));
}

/// `streamPresence`: `snapshot` at once and whenever the snapshot changes (at most four a
/// second), `join` and `leave` with the person who came or went (also by expiry), and a
/// comment every 15 s (`PRESENCE_STREAM_KEEPALIVE_MS`). Does not make the caller a viewer.
#[tracing::instrument(name = "stream", skip_all, fields(user = %user.0))]
async fn stream(user: CurrentUser, query: PageQuery, state: web::Data<AppState>) -> Result<HttpResponse> {
    let slot = state.open_streams.open(&user.0).ok_or_else(|| ApiError::TooManyStreams {
        limit: state.open_streams.max_per_user(),
        retry_after: state.timing.retry_after(),
    })?;
    // Subscribe before the first read, so no change between the two is missed.
    let events = state.store.watch(&query.page).await.map_err(ApiError::Unavailable)?;
    let first = latest(&state, &query, &user.0, None).await?;
    let (sender, mut receiver) = mpsc::channel::<Bytes>(16);
    let open = state.metrics.stream_opened();
    let watch = Watch { state: state.into_inner(), query, caller: user.0, sender, _slot: slot, _open: open };
    actix_web::rt::spawn(watch.run(events, first));
    let body = futures_util::stream::poll_fn(move |context| {
        receiver.poll_recv(context).map(|chunk| chunk.map(Ok::<_, Infallible>))
    });
    Ok(HttpResponse::Ok()
        .content_type("text/event-stream")
        .insert_header((header::CACHE_CONTROL, "no-cache"))
        // nginx would otherwise buffer the stream.
        .insert_header(("X-Accel-Buffering", "no"))
        .streaming(body))
}

/// The page's snapshot at `version` (as it is now, if not given), as `caller` sees it.
async fn latest(state: &AppState, query: &PageQuery, caller: &UserId, version: Option<Version>) -> Result<View> {
    let version = match version {
        Some(version) => version,
        None => state.store.version(&query.page).await.map_err(ApiError::Unavailable)?,
    };
    let (store, directory) = (&*state.store, &state.directory);
    let view = state.snapshots.view(store, directory, &query.page, version, caller, query.limit).await;
    view.map_err(ApiError::Unavailable)
}

/// One client's stream: forwards the page's events until the client goes away.
struct Watch {
    state: Arc<AppState>,
    query: PageQuery,
    caller: UserId,
    sender: mpsc::Sender<Bytes>,
    /// Counts this stream among its user's until it ends.
    _slot: StreamSlot,
    /// Counts the stream as open in the metrics until the task ends, however it ends.
    _open: OpenStream,
}

impl Watch {
    async fn run(self, mut events: broadcast::Receiver<PageEvent>, view: View) {
        let mut last_etag = view.etag();
        let opening = format!("retry: {RECONNECT_MS}\n\n");
        if !self.send(opening).await || !self.send(snapshot_event(&view)).await {
            return;
        }
        let mut last_sent = Instant::now();
        let mut flush_at: Option<Instant> = None;
        // The page's version as its latest event told it (they come in order), so a
        // snapshot need not ask the store for it; `None` once some were missed.
        let mut announced: Option<Version> = None;
        // actix-web notices a client that went away only when a write to it fails, so these
        // comments also bound how long a dead stream lingers (about two of them).
        let every = self.state.stream_keepalive;
        let mut keepalive = interval_at(Instant::now() + every, every);
        loop {
            let delivered = tokio::select! {
                () = self.sender.closed() => return,
                event = events.recv() => match event {
                    Ok(PageEvent::Joined(user)) => self.person_event("join", &user).await,
                    Ok(PageEvent::Left(user)) => self.person_event("leave", &user).await,
                    Err(RecvError::Closed) => return,
                    // A stream that fell behind missed some joins and leaves, and versions;
                    // the next snapshot brings it up to date.
                    changed => {
                        announced = match changed { Ok(PageEvent::Changed(version)) => Some(version), _ => None };
                        flush_at.get_or_insert(last_sent + COALESCE);
                        true
                    }
                },
                () = sleep_until(flush_at.unwrap_or_else(Instant::now)), if flush_at.is_some() => {
                    flush_at = None;
                    last_sent = Instant::now();
                    match self.changed_snapshot(announced.take(), &last_etag).await {
                        Ok(None) => true,
                        Ok(Some(view)) => {
                            last_etag = view.etag();
                            let sent = self.send(snapshot_event(&view)).await;
                            // From the send, not the read: however long the read took,
                            // two snapshots reach the client a quarter second apart.
                            last_sent = Instant::now();
                            sent
                        }
                        Err(error) => {
                            self.state.metrics.store_failed(StoreOperation::Stream);
                            tracing::warn!(%error, "ending a stream: the page could not be read");
                            return;
                        }
                    }
                }
                _ = keepalive.tick() => self.send(": keepalive\n\n".into()).await,
            };
            if !delivered {
                return;
            }
        }
    }

    /// The page's snapshot at `version` (or as it is now), if it is not the one sent last.
    async fn changed_snapshot(&self, version: Option<Version>, last_sent: &ETag) -> Result<Option<View>> {
        let view = latest(&self.state, &self.query, &self.caller, version).await?;
        Ok((view.etag() != *last_sent).then_some(view))
    }

    /// A `join` or `leave` naming the person; skipped when their profile cannot be read.
    async fn person_event(&self, event: &str, user: &UserId) -> bool {
        let Ok(profile) = self.state.directory.profile(user).await else { return true };
        let Ok(json) = serde_json::to_string(&Person::from(&*profile)) else { return true };
        self.send(format!("event: {event}\ndata: {json}\n\n")).await
    }

    /// Answers whether the client is still there.
    async fn send(&self, chunk: String) -> bool {
        self.sender.send(Bytes::from(chunk)).await.is_ok()
    }
}

/// A snapshot, with its `ETag` as the event's id: a client whose heartbeat answers another
/// tag can tell that its stream is behind.
fn snapshot_event(view: &View) -> String {
    format!("id: {}\nevent: snapshot\ndata: {}\n\n", view.etag(), String::from_utf8_lossy(&view.body()))
}
