//! The wire shapes of viewer stats: one page's stats, and the busiest pages.

use std::time::SystemTime;

use serde::Serialize;

use super::time::rfc3339_seconds;
use super::{PageCounts, Peak};

/// `GET /api/presence/stats`: a page's counts now, at their peak and over time.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PageStats<'a> {
    pub page_path: &'a str,
    pub viewer_count: usize,
    pub tab_count: usize,
    /// 0 while the page has never had a viewer.
    pub peak_viewer_count: usize,
    /// RFC 3339, whole seconds, UTC: when the page first had `peak_viewer_count` viewers.
    /// Left out while it has never had a viewer (as `editorUserId` is while nobody edits).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub peak_at: Option<String>,
    pub history: Vec<HistoryPoint>,
}

/// One sample of a page's viewer count.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct HistoryPoint {
    /// RFC 3339, whole seconds, UTC.
    pub at: String,
    pub viewer_count: usize,
}

impl<'a> PageStats<'a> {
    pub fn new(page_path: &'a str, now: &PageCounts, peak: Option<Peak>, history: Vec<HistoryPoint>) -> Self {
        PageStats {
            page_path,
            viewer_count: now.viewer_count,
            tab_count: now.tab_count,
            // The peak is read after the counts, so it is never below them; `max` says so.
            peak_viewer_count: peak.map_or(0, |peak| peak.viewer_count).max(now.viewer_count),
            peak_at: peak.map(|peak| rfc3339_seconds(peak.at)),
            history,
        }
    }
}

impl HistoryPoint {
    pub fn new(at: SystemTime, viewer_count: usize) -> Self {
        HistoryPoint { at: rfc3339_seconds(at), viewer_count }
    }
}

/// `GET /api/presence/pages`: the busiest live pages.
#[derive(Debug, Serialize)]
pub struct LivePages<'a> {
    pub pages: Vec<LivePage<'a>>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct LivePage<'a> {
    pub page_path: &'a str,
    pub viewer_count: usize,
    pub tab_count: usize,
}

impl<'a> From<&'a PageCounts> for LivePage<'a> {
    fn from(counts: &'a PageCounts) -> Self {
        LivePage { page_path: counts.page.as_str(), viewer_count: counts.viewer_count, tab_count: counts.tab_count }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::PagePath;
    use serde_json::json;
    use std::time::Duration;

    fn at(seconds: u64) -> SystemTime {
        SystemTime::UNIX_EPOCH + Duration::from_secs(seconds)
    }

    #[test]
    fn stats_have_the_spec_shape() {
        let counts = PageCounts { page: PagePath::parse("/auction/1").unwrap(), viewer_count: 1, tab_count: 2 };
        let peak = Peak { viewer_count: 3, at: at(1_795_255_200) };
        let history = vec![HistoryPoint::new(at(1_795_255_260), 2)];
        let stats = PageStats::new(counts.page.as_str(), &counts, Some(peak), history);
        assert_eq!(
            serde_json::to_value(stats).unwrap(),
            json!({"pagePath": "/auction/1", "viewerCount": 1, "tabCount": 2, "peakViewerCount": 3,
                   "peakAt": "2026-11-21T10:00:00Z", "history": [{"at": "2026-11-21T10:01:00Z", "viewerCount": 2}]})
        );
    }

    #[test]
    fn a_page_that_never_had_a_viewer_has_no_peak_time() {
        let counts = PageCounts { page: PagePath::parse("/quiet").unwrap(), viewer_count: 0, tab_count: 0 };
        let json = serde_json::to_value(PageStats::new("/quiet", &counts, None, Vec::new())).unwrap();
        assert_eq!(
            json,
            json!({"pagePath": "/quiet", "viewerCount": 0, "tabCount": 0, "peakViewerCount": 0, "history": []})
        );
    }
}
