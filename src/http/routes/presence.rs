//! The presence API: join, heartbeat, leave and list.

use actix_web::{web, HttpRequest, HttpResponse};
use serde::Deserialize;

use crate::domain::{PagePath, TabId, TabKey};
use crate::error::{ApiError, Result};
use crate::http::extract::prefers_minimal;
use crate::http::extract::Body;
use crate::http::extract::CurrentUser;
use crate::http::extract::{required, PageQuery, DEFAULT_LIMIT};
use crate::http::snapshot_answer::{respond, Answer};
use crate::state::AppState;
use crate::store::TouchError;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(web::resource("/api/presence/join").route(web::post().to(join)))
        .service(web::resource("/api/presence/heartbeat").route(web::post().to(heartbeat)))
        .service(web::resource("/api/presence/leave").route(web::post().to(leave)))
        .service(web::resource("/api/presence/list").route(web::get().to(list)));
}

/// The body of join, heartbeat and leave. Any other field (a `userId`, say) is ignored:
/// who the caller is comes from the session or token only. Public for the fuzz targets.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TabRequest {
    page_path: Option<String>,
    tab_id: Option<String>,
    is_editing: Option<bool>,
}

/// A tab request whose fields parsed.
pub struct TabCommand {
    page: PagePath,
    tab: TabId,
    is_editing: Option<bool>,
}

impl TryFrom<TabRequest> for TabCommand {
    type Error = ApiError;

    fn try_from(request: TabRequest) -> Result<Self> {
        let page = required("pagePath", request.page_path, PagePath::parse);
        let tab = required("tabId", request.tab_id, TabId::parse);
        match (page, tab) {
            (Ok(page), Ok(tab)) => Ok(Self { page, tab, is_editing: request.is_editing }),
            (page, tab) => Err(ApiError::Validation(page.err().into_iter().chain(tab.err()).collect())),
        }
    }
}

/// What a tab tells the registry.
enum TabChange {
    Join,
    Heartbeat,
    Leave,
}

/// `joinPresence`: adds the caller's tab to the page and answers the page's snapshot (or,
/// with `Prefer: return=minimal`, 204 and its tag). An `isEditing` in the body sets the
/// tab's editing state; without one it is kept.
#[tracing::instrument(name = "join", skip_all, fields(user = %user.0))]
async fn join(
    req: HttpRequest,
    user: CurrentUser,
    body: Body<TabRequest>,
    state: web::Data<AppState>,
) -> Result<HttpResponse> {
    change_tab(TabChange::Join, req, user, body, state).await
}

/// `heartbeat`: keeps the caller's tab live (re-creating it if it expired) and sets `isEditing`;
/// answers like join.
#[tracing::instrument(name = "heartbeat", skip_all, fields(user = %user.0))]
async fn heartbeat(
    req: HttpRequest,
    user: CurrentUser,
    body: Body<TabRequest>,
    state: web::Data<AppState>,
) -> Result<HttpResponse> {
    change_tab(TabChange::Heartbeat, req, user, body, state).await
}

/// `leavePresence`: removes the caller's tab; leaving twice is fine. Takes `text/plain`
/// bodies too, which is what a `sendBeacon` on `pagehide` sends.
#[tracing::instrument(name = "leave", skip_all, fields(user = %user.0))]
async fn leave(
    req: HttpRequest,
    user: CurrentUser,
    body: Body<TabRequest>,
    state: web::Data<AppState>,
) -> Result<HttpResponse> {
    change_tab(TabChange::Leave, req, user, body, state).await
}

async fn change_tab(
    change: TabChange,
    req: HttpRequest,
    user: CurrentUser,
    body: Body<TabRequest>,
    state: web::Data<AppState>,
) -> Result<HttpResponse> {
    let TabCommand { page, tab, is_editing } = TabCommand::try_from(body.0)?;
    let key = TabKey { user: user.0, tab };
    let version = match change {
        TabChange::Join => state.store.join(&page, &key, is_editing).await,
        TabChange::Heartbeat => state.store.heartbeat(&page, &key, is_editing.unwrap_or(false)).await,
        TabChange::Leave => state.store.leave(&page, &key).await.map_err(TouchError::Store),
    }
    .map_err(|error| refusal(error, &state))?;
    let answer = match change {
        // A client that follows the stream has the list already. (Leaves go out as beacons,
        // which send no headers.)
        TabChange::Join | TabChange::Heartbeat if prefers_minimal(&req) => Answer::TagOnly,
        _ => Answer::Snapshot,
    };
    respond(&req, &state, &page, version, &key.user, DEFAULT_LIMIT, answer).await
}

/// What the client is told of a change the store did not make.
fn refusal(error: TouchError, state: &AppState) -> ApiError {
    let retry_after = state.timing.retry_after();
    match error {
        TouchError::TooManyTabs(limit) => ApiError::TooManyTabs { limit, retry_after },
        TouchError::Full(_) => ApiError::Full { retry_after },
        TouchError::Store(error) => ApiError::Unavailable(error),
    }
}

/// `listPresence`: the page's snapshot, without making the caller a viewer.
#[tracing::instrument(name = "list", skip_all, fields(user = %user.0))]
async fn list(
    req: HttpRequest,
    user: CurrentUser,
    query: PageQuery,
    state: web::Data<AppState>,
) -> Result<HttpResponse> {
    let version = state.store.version(&query.page).await.map_err(ApiError::Unavailable)?;
    respond(&req, &state, &query.page, version, &user.0, query.limit, Answer::Snapshot).await
}
