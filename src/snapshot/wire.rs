//! `Snapshot`: the wire shape of a page's presence (SPEC §3).

use std::time::SystemTime;

use serde::Serialize;

use super::{color_of, Profile};
use crate::store::ViewerPresence;

/// The wire shape of a snapshot.
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
    /// Kept last: a viewer serialized once for everyone is marked for its own user by
    /// replacing the final `false}` (see [`Viewer::as_current_user`]).
    pub is_current_user: bool,
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
    pub fn retry_after(&self) -> std::time::Duration {
        std::time::Duration::from_millis(self.heartbeat_interval_ms)
    }
}

impl<'a> Viewer<'a> {
    /// A viewer as everyone but that user sees it; one the directory does not know is shown by id.
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
            is_current_user: false,
        }
    }

    /// The JSON of a viewer serialized by [`Viewer::new`] (or of anything that ends with
    /// one), as its own user sees it: the part of `json` to keep, then the new ending.
    pub fn as_current_user(json: &[u8]) -> (&[u8], &'static [u8]) {
        let others_view = json.strip_suffix(b"false}").expect("isCurrentUser is the last field");
        (others_view, b"true}")
    }
}

pub(super) fn rfc3339_seconds(at: SystemTime) -> String {
    humantime::format_rfc3339_seconds(at).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::UserId;
    use serde_json::json;
    use std::time::Duration;

    #[test]
    fn a_viewer_has_the_spec_shape() {
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
        let json = serde_json::to_string(&Viewer::new(&presence, Some(&profile))).unwrap();
        let expected = json!({"id": "u1", "name": "Alice", "avatar": "https://example.com/a.png", "tabCount": 2,
             "role": "editor", "color": color_of(&alice), "isEditing": true,
             "joinedAt": "2026-11-21T10:00:00Z", "isCurrentUser": false});
        assert_eq!(serde_json::from_str::<serde_json::Value>(&json).unwrap(), expected);
        let (kept, ending) = Viewer::as_current_user(json.as_bytes());
        let mine: serde_json::Value = serde_json::from_slice(&[kept, ending].concat()).unwrap();
        assert_eq!(mine["isCurrentUser"], true);
        assert_eq!(mine.as_object().unwrap().len(), expected.as_object().unwrap().len());
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
