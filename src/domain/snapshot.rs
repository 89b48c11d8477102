//! `Snapshot`: the wire shape of a page's presence (SPEC §3).

use std::collections::HashMap;
use std::sync::Arc;
use std::time::SystemTime;

use serde::Serialize;

use super::{color_of, PagePath, Profile, UserId};
use crate::store::PagePresence;

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Snapshot<'a> {
    pub page_path: &'a str,
    pub viewers: Vec<Viewer<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub editor_user_id: Option<&'a str>,
    pub viewer_count: usize,
    pub tab_count: usize,
    pub ttl_ms: u64,
    pub heartbeat_interval_ms: u64,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Viewer<'a> {
    pub id: &'a str,
    pub name: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub avatar: Option<&'a str>,
    pub tab_count: u32,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub role: Option<&'a str>,
    pub color: &'static str,
    pub is_editing: bool,
    /// RFC 3339, whole seconds, UTC.
    pub joined_at: String,
    pub is_current_user: bool,
}

/// The timing a client should follow, echoed in every snapshot.
#[derive(Debug, Clone, Copy)]
pub struct Timing {
    pub ttl_ms: u64,
    pub heartbeat_interval_ms: u64,
}

impl<'a> Snapshot<'a> {
    /// Joins the store's view of a page with the directory's profiles, as seen by `caller`.
    /// A viewer the directory does not know is shown by id.
    pub fn new(
        page: &'a PagePath,
        presence: &'a PagePresence,
        profiles: &'a HashMap<UserId, Arc<Profile>>,
        caller: &UserId,
        timing: Timing,
    ) -> Self {
        let viewers = presence
            .viewers
            .iter()
            .map(|viewer| {
                let profile = profiles.get(&viewer.user);
                Viewer {
                    id: viewer.user.as_str(),
                    name: profile.map_or(viewer.user.as_str(), |p| &p.name),
                    avatar: profile.and_then(|p| p.avatar.as_deref()),
                    tab_count: viewer.tab_count,
                    role: profile.and_then(|p| p.role.as_deref()),
                    color: color_of(&viewer.user),
                    is_editing: viewer.editing_since.is_some(),
                    joined_at: rfc3339_seconds(viewer.joined_at),
                    is_current_user: &viewer.user == caller,
                }
            })
            .collect();
        Snapshot {
            page_path: page.as_str(),
            viewers,
            editor_user_id: presence.editor().map(UserId::as_str),
            viewer_count: presence.viewers.len(),
            tab_count: presence.tab_count,
            ttl_ms: timing.ttl_ms,
            heartbeat_interval_ms: timing.heartbeat_interval_ms,
        }
    }
}

fn rfc3339_seconds(at: SystemTime) -> String {
    humantime::format_rfc3339_seconds(at).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::ViewerPresence;
    use serde_json::json;
    use std::time::Duration;

    #[test]
    fn has_the_spec_shape() {
        let (alice, bob) = (UserId::parse("u1").unwrap(), UserId::parse("u2").unwrap());
        let at = |s: u64| SystemTime::UNIX_EPOCH + Duration::from_secs(1_795_255_200 + s);
        let presence = PagePresence {
            viewers: vec![
                ViewerPresence { user: alice.clone(), tab_count: 2, joined_at: at(0), editing_since: Some(at(5)) },
                ViewerPresence { user: bob.clone(), tab_count: 1, joined_at: at(3), editing_since: None },
            ],
            tab_count: 3,
        };
        let profiles = HashMap::from([(
            alice.clone(),
            Arc::new(Profile {
                id: alice.clone(),
                name: "Alice".into(),
                avatar: Some("https://example.com/a.png".into()),
                role: Some("editor".into()),
            }),
        )]);
        let page = PagePath::parse("/docs/a").unwrap();
        let timing = Timing { ttl_ms: 45_000, heartbeat_interval_ms: 15_000 };
        let snapshot = Snapshot::new(&page, &presence, &profiles, &bob, timing);
        assert_eq!(
            serde_json::to_value(&snapshot).unwrap(),
            json!({
                "pagePath": "/docs/a",
                "viewers": [
                    {"id": "u1", "name": "Alice", "avatar": "https://example.com/a.png", "tabCount": 2,
                     "role": "editor", "color": color_of(&alice), "isEditing": true,
                     "joinedAt": "2026-11-21T10:00:00Z", "isCurrentUser": false},
                    {"id": "u2", "name": "u2", "tabCount": 1, "color": color_of(&bob), "isEditing": false,
                     "joinedAt": "2026-11-21T10:00:03Z", "isCurrentUser": true}
                ],
                "editorUserId": "u1",
                "viewerCount": 2,
                "tabCount": 3,
                "ttlMs": 45000,
                "heartbeatIntervalMs": 15000
            })
        );
    }
}
