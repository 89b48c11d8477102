//! The presence API of the seed design: join, heartbeat, leave and list.

use actix_web::{web, HttpRequest, HttpResponse};
use serde::Deserialize;
use validator::ValidationError;

use super::body::Body;
use super::snapshot::respond;
use crate::auth::CurrentUser;
use crate::domain::{PagePath, TabId};
use crate::error::{ApiError, FieldError, Result};
use crate::state::AppState;
use crate::store::TabKey;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(web::resource("/api/presence/join").route(web::post().to(join)))
        .service(web::resource("/api/presence/heartbeat").route(web::post().to(heartbeat)))
        .service(web::resource("/api/presence/leave").route(web::post().to(leave)))
        .service(web::resource("/api/presence/list").route(web::get().to(list)));
}

/// The body of join, heartbeat and leave. Any other field (a `userId`, say) is ignored:
/// who the caller is comes from the session or token only.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct TabRequest {
    page_path: Option<String>,
    tab_id: Option<String>,
    #[serde(default)]
    is_editing: bool,
}

struct TabCommand {
    page: PagePath,
    tab: TabId,
    is_editing: bool,
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

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ListQuery {
    page_path: Option<String>,
}

fn required<T>(
    field: &str,
    value: Option<String>,
    parse: impl FnOnce(&str) -> Result<T, ValidationError>,
) -> Result<T, FieldError> {
    let value = value.ok_or_else(|| FieldError { field: field.into(), message: "is required".into() })?;
    parse(&value).map_err(|error| FieldError::new(field, &error))
}

/// What a tab tells the registry.
enum TabChange {
    Join,
    Heartbeat,
    Leave,
}

/// `joinPresence`: adds the caller's tab to the page and answers the page's snapshot.
#[tracing::instrument(name = "join", skip_all, fields(user = %user.0))]
async fn join(
    req: HttpRequest,
    user: CurrentUser,
    body: Body<TabRequest>,
    state: web::Data<AppState>,
) -> Result<HttpResponse> {
    change_tab(TabChange::Join, req, user, body, state).await
}

/// `heartbeat`: keeps the caller's tab live (re-creating it if it expired) and sets `isEditing`.
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
    let presence = match change {
        TabChange::Join => state.store.join(&page, &key).await,
        TabChange::Heartbeat => state.store.heartbeat(&page, &key, is_editing).await,
        TabChange::Leave => state.store.leave(&page, &key).await,
    }
    .map_err(ApiError::Unavailable)?;
    respond(&req, &state, &page, &presence, &key.user).await
}

/// `listPresence`: the page's snapshot, without making the caller a viewer.
#[tracing::instrument(name = "list", skip_all, fields(user = %user.0))]
async fn list(req: HttpRequest, user: CurrentUser, state: web::Data<AppState>) -> Result<HttpResponse> {
    let query = web::Query::<ListQuery>::from_query(req.query_string())
        .map_err(|e| ApiError::Malformed(format!("the query string could not be read: {e}")))?;
    let page = required("pagePath", query.into_inner().page_path, PagePath::parse)
        .map_err(|error| ApiError::Validation(vec![error]))?;
    let presence = state.store.presence(&page).await.map_err(ApiError::Unavailable)?;
    respond(&req, &state, &page, &presence, &user.0).await
}
