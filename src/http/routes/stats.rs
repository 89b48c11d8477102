//! Viewer stats: a page's counts now, at their peak and over time, and the
//! busiest live pages.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use actix_web::{web, HttpRequest, HttpResponse};
use serde::Deserialize;

use crate::domain::{HistoryPoint, LivePage, LivePages, PageCounts, PagePath, PageStats, Peak};
use crate::error::{ApiError, Result};
use crate::http::extract::CurrentUser;
use crate::http::extract::{optional, read_query, required, whole_number};
use crate::state::AppState;

/// History answered when the client names no `minutes`: the last day (or all that is
/// kept, if that is less).
const DEFAULT_HISTORY_MINUTES: usize = 24 * 60;
/// Pages `/pages` answers when the client names no `limit`, and the most it answers.
const DEFAULT_PAGES: usize = 20;
const MAX_PAGES: usize = 100;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(web::resource("/api/presence/stats").route(web::get().to(stats)))
        .service(web::resource("/api/presence/pages").route(web::get().to(pages)));
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawStatsQuery {
    page_path: Option<String>,
    minutes: Option<String>,
}

/// `?pagePath=&minutes=`: the page, and how many minutes of history to answer.
struct StatsQuery {
    page: PagePath,
    minutes: usize,
}

impl StatsQuery {
    /// `minutes` reaches back at most as far as history is kept.
    fn parse(query: &str, retention: Duration) -> Result<Self> {
        let raw: RawStatsQuery = read_query(query)?;
        // At least 1: the retention is at least a minute (see `Settings`).
        let kept = usize::try_from(retention.as_secs() / 60).unwrap_or(usize::MAX).max(1);
        let page = required("pagePath", raw.page_path, PagePath::parse);
        let minutes = optional("minutes", raw.minutes, DEFAULT_HISTORY_MINUTES.min(kept), |minutes| {
            whole_number(minutes, 1..=kept).map_err(|error| {
                let kept_for = humantime::format_duration(retention);
                let message =
                    format!("{} (history is kept for {kept_for})", error.message.as_deref().unwrap_or_default());
                error.with_message(message.into())
            })
        });
        match (page, minutes) {
            (Ok(page), Ok(minutes)) => Ok(Self { page, minutes }),
            (page, minutes) => Err(ApiError::Validation(page.err().into_iter().chain(minutes.err()).collect())),
        }
    }
}

/// `getStats`: the page's viewer and tab counts now, its peak viewer count and when it
/// was first reached (exact, and kept after everyone leaves), and the sampled viewer
/// count of the last `minutes` (default a day), oldest first.
#[tracing::instrument(name = "stats", skip_all, fields(user = %user.0))]
async fn stats(req: HttpRequest, user: CurrentUser, state: web::Data<AppState>) -> Result<HttpResponse> {
    let query = StatsQuery::parse(req.query_string(), state.stats_retention)?;
    let now = SystemTime::now();
    // Counts first, then the store's peak, then the saved one: a peak is never below the
    // counts read before it, and the store forgets a peak only once it is saved.
    let presence = state.store.presence(&query.page, 0).await.map_err(ApiError::Unavailable)?;
    let counts =
        PageCounts { page: query.page.clone(), viewer_count: presence.viewer_count, tab_count: presence.tab_count };
    let live_peak = state.store.peak(&query.page).await.map_err(ApiError::Unavailable)?;
    let saved_peak = state.directory.saved_peak(&query.page).await.map_err(ApiError::Unavailable)?;
    let since = now.checked_sub(Duration::from_secs(60) * query.minutes as u32).unwrap_or(UNIX_EPOCH);
    let history = state.directory.history(&query.page, since).await.map_err(ApiError::Unavailable)?;
    let history = history.into_iter().map(|sample| HistoryPoint::new(sample.at, sample.viewer_count)).collect();
    let peak = Peak::higher(live_peak, saved_peak);
    Ok(HttpResponse::Ok().json(PageStats::new(query.page.as_str(), &counts, peak, history)))
}

#[derive(Deserialize)]
struct RawPagesQuery {
    limit: Option<String>,
}

/// `listPages`: the live pages with the most viewers (then tabs, then by path), with
/// their counts; at most `limit` (default 20, at most 100).
#[tracing::instrument(name = "pages", skip_all, fields(user = %user.0))]
async fn pages(req: HttpRequest, user: CurrentUser, state: web::Data<AppState>) -> Result<HttpResponse> {
    let raw: RawPagesQuery = read_query(req.query_string())?;
    let limit = optional("limit", raw.limit, DEFAULT_PAGES, |limit| whole_number(limit, 1..=MAX_PAGES))
        .map_err(|error| ApiError::Validation(vec![error]))?;
    let counts = state.store.page_counts().await.map_err(ApiError::Unavailable)?;
    let busiest = busiest(counts, limit);
    Ok(HttpResponse::Ok().json(LivePages { pages: busiest.iter().map(LivePage::from).collect() }))
}

/// The `limit` busiest pages: most viewers first, then most tabs, then by path.
fn busiest(mut pages: Vec<PageCounts>, limit: usize) -> Vec<PageCounts> {
    pages.sort_unstable_by(|a, b| (b.viewer_count, b.tab_count, &a.page).cmp(&(a.viewer_count, a.tab_count, &b.page)));
    pages.truncate(limit);
    pages
}

#[cfg(test)]
mod tests {
    use super::*;

    const WEEK: Duration = Duration::from_secs(7 * 24 * 3600);

    #[test]
    fn busiest_orders_by_viewers_then_tabs_then_path() {
        let page = |path: &str, viewer_count, tab_count| PageCounts {
            page: PagePath::parse(path).unwrap(),
            viewer_count,
            tab_count,
        };
        let pages = vec![page("/d", 1, 1), page("/a", 1, 1), page("/c", 1, 3), page("/b", 2, 2)];
        let order: Vec<String> = busiest(pages.clone(), 10).iter().map(|p| p.page.to_string()).collect();
        assert_eq!(order, ["/b", "/c", "/a", "/d"]);
        assert_eq!(busiest(pages, 2).len(), 2);
    }

    #[test]
    fn stats_query_defaults_to_a_day_within_the_retention() {
        let query = StatsQuery::parse("pagePath=/a/", WEEK).unwrap();
        assert_eq!((query.page.as_str(), query.minutes), ("/a", 1440));
        assert_eq!(StatsQuery::parse("pagePath=/a", Duration::from_secs(3600)).unwrap().minutes, 60);
        assert_eq!(StatsQuery::parse("pagePath=/a&minutes=10080", WEEK).unwrap().minutes, 10080);
    }

    #[test]
    fn stats_query_names_each_bad_field() {
        for (query, fields) in [
            ("", vec!["pagePath"]),
            ("pagePath=/a&minutes=0", vec!["minutes"]),
            ("pagePath=/a&minutes=10081", vec!["minutes"]),
            ("pagePath=x&minutes=an-hour", vec!["pagePath", "minutes"]),
        ] {
            let Err(ApiError::Validation(errors)) = StatsQuery::parse(query, WEEK) else {
                panic!("{query} should be refused")
            };
            assert_eq!(errors.iter().map(|e| e.field.as_str()).collect::<Vec<_>>(), fields, "{query}");
        }
        let Err(ApiError::Validation(errors)) = StatsQuery::parse("pagePath=/a&minutes=99999", WEEK) else {
            panic!("too far back")
        };
        assert_eq!(errors[0].message, "must be a whole number from 1 to 10080 (history is kept for 7days)");
    }
}
