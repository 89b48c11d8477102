//! The wire shapes of a page's presence (`Snapshot`, `Viewer` and `Person` in
//! `openapi.yaml`): what a snapshot's parts serialize to.

use std::time::Duration;

use serde::Serialize;

use crate::domain::time::rfc3339_seconds;
use crate::domain::{color_of, PagePresence, Profile, UserId, ViewerPresence};

/// A snapshot's fields after its viewers. The document is written in parts (see
/// [`super::cache`]), so each caller's body can be cut from one shared copy.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Summary<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub editor_user_id: Option<&'a str>,
    pub viewer_count: usize,
    pub tab_count: usize,
    pub ttl_ms: u64,
    pub heartbeat_interval_ms: u64,
}

impl<'a> Summary<'a> {
    pub fn new(presence: &'a PagePresence, timing: Timing) -> Self {
        Summary {
            editor_user_id: presence.editor.as_ref().map(UserId::as_str),
            viewer_count: presence.viewer_count,
            tab_count: presence.tab_count,
            ttl_ms: timing.ttl_ms,
            heartbeat_interval_ms: timing.heartbeat_interval_ms,
        }
    }
}

/// A viewer without `isCurrentUser`, which depends on who asks and is written after it.
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
}

impl<'a> Viewer<'a> {
    /// A viewer; one the directory does not know is shown by id.
    pub fn new(viewer: &'a ViewerPresence, profile: Option<&'a Profile>) -> Self {
        Viewer {
            id: viewer.user.as_str(),
            name: profile.map_or(viewer.user.as_str(), |p| &p.name),
            avatar: profile.and_then(|p| p.avatar.as_deref()),
            tab_count: viewer.tab_count,
            role: profile.and_then(|p| p.role.as_deref()),
            color: color_of(&viewer.user),
            is_editing: viewer.editing_since.is_some(),
            joined_at: rfc3339_seconds(viewer.joined_at),
        }
    }
}

/// Who came or went, as a live `join` or `leave` event names them.
#[derive(Debug, Serialize)]
pub struct Person<'a> {
    pub id: &'a str,
    pub name: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub avatar: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub role: Option<&'a str>,
    pub color: &'static str,
}

impl<'a> From<&'a Profile> for Person<'a> {
    fn from(profile: &'a Profile) -> Self {
        Person {
            id: profile.id.as_str(),
            name: &profile.name,
            avatar: profile.avatar.as_deref(),
            role: profile.role.as_deref(),
            color: color_of(&profile.id),
        }
    }
}

/// The timing a client should follow, echoed in every snapshot.
#[derive(Debug, Clone, Copy)]
pub struct Timing {
    pub ttl_ms: u64,
    pub heartbeat_interval_ms: u64,
}

impl Timing {
    /// When a client refused for now should try again: at its next heartbeat.
    pub fn retry_after(&self) -> Duration {
        Duration::from_millis(self.heartbeat_interval_ms)
    }
}

#[cfg(test)]
mod tests {
    use std::time::SystemTime;

    use serde_json::json;

    use super::*;

    #[test]
    fn a_viewer_has_the_documented_shape() {
        let alice = UserId::parse("u1").unwrap();
        let presence = ViewerPresence {
            user: alice.clone(),
            tab_count: 2,
            joined_at: SystemTime::UNIX_EPOCH + Duration::from_secs(1_795_255_200),
            editing_since: Some(SystemTime::UNIX_EPOCH + Duration::from_secs(1_795_255_205)),
        };
        let profile = Profile {
            id: alice.clone(),
            name: "Alice".into(),
            avatar: Some("https://example.com/a.png".into()),
            role: Some("editor".into()),
        };
        let expected = json!({"id": "u1", "name": "Alice", "avatar": "https://example.com/a.png", "tabCount": 2,
             "role": "editor", "color": color_of(&alice), "isEditing": true, "joinedAt": "2026-11-21T10:00:00Z"});
        assert_eq!(serde_json::to_value(Viewer::new(&presence, Some(&profile))).unwrap(), expected);
    }

    #[test]
    fn an_unknown_user_is_shown_by_id() {
        let bob = UserId::parse("u2").unwrap();
        let presence =
            ViewerPresence { user: bob, tab_count: 1, joined_at: SystemTime::UNIX_EPOCH, editing_since: None };
        let json = serde_json::to_value(Viewer::new(&presence, None)).unwrap();
        assert_eq!(json["name"], "u2");
        assert!(json.get("avatar").is_none() && json.get("role").is_none());
    }
}
