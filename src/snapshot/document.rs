//! `Document`: one page's snapshot written once, and `View`, the snapshot as one caller
//! sees it, cut from that document.
//!
//! The document is the JSON a caller who is not on the page gets when every viewer is
//! listed, written in parts: the page path, each viewer (with where it lies), then the
//! counts. Any other caller's body is a few slices of it (cut at its `limit`, its own viewer
//! marked `isCurrentUser`), and its `ETag` a hash of the document's digest and what picks
//! those slices: nothing is serialized per request, but the caller's own entry when the
//! document is older than the page (see `SnapshotCache`).

use std::collections::HashMap;
use std::ops::Range;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;

use actix_web::web::Bytes;
use serde::ser::Error as _;
use tokio::time::Instant;
use xxhash_rust::xxh3::xxh3_64;

use super::etag::ETag;
use super::wire::{Summary, Timing, Viewer};
use crate::domain::{PagePath, PagePresence, Profile, UserId, Version, ViewerPresence};

/// How a viewer's JSON ends for everyone but that user, and for that user.
const OTHERS_VIEW_END: &[u8] = br#","isCurrentUser":false}"#;
const OWN_VIEW_END: &[u8] = br#","isCurrentUser":true}"#;

pub struct Document {
    pub(super) version: Version,
    /// The directory's generation the profiles were read at.
    pub(super) generation: u64,
    pub(super) written_at: Instant,
    pub(super) viewer_count: usize,
    /// Set while a request writes this page's next document (on a big page, one at a time).
    pub(super) superseding: AtomicBool,
    /// The snapshot as a caller who is not on the page sees it, every viewer listed.
    json: Bytes,
    /// Where the viewers' array starts in `json` (just after its `[`).
    list_start: usize,
    /// Where each viewer's JSON lies in `json`, in the snapshot's order.
    viewers: Vec<Range<usize>>,
    /// Each user's place in that order.
    places: HashMap<UserId, usize>,
    /// A digest of `json`, which every caller's body is cut from.
    digest: u64,
}

/// A snapshot as one caller sees it: the first `shown` viewers, the caller's own always
/// among them (in the last shown place when it comes later).
pub struct View {
    document: Arc<Document>,
    shown: usize,
    mine: Mine,
}

/// Where the caller's own entry comes from.
enum Mine {
    /// The caller is not on the page.
    Absent,
    /// The document's viewer at this place, marked.
    Place(usize),
    /// Written for this request, as its own user sees it (the document is older than the
    /// page), in place of the document's entry at `place`, if it has one.
    Live { place: Option<usize>, json: Vec<u8> },
}

impl Document {
    /// Writes the page's snapshot, its viewers named as `profiles` has them.
    pub fn write(
        page: &PagePath,
        presence: &PagePresence,
        profiles: &HashMap<UserId, Arc<Profile>>,
        timing: Timing,
        generation: u64,
    ) -> serde_json::Result<Self> {
        let mut json = Vec::with_capacity(256 + 192 * presence.viewers.len());
        json.extend_from_slice(br#"{"pagePath":"#);
        serde_json::to_writer(&mut json, page.as_str())?;
        json.extend_from_slice(br#","viewers":["#);
        let list_start = json.len();
        let mut viewers = Vec::with_capacity(presence.viewers.len());
        for viewer in &presence.viewers {
            if !viewers.is_empty() {
                json.push(b',');
            }
            let start = json.len();
            write_viewer(&mut json, &Viewer::new(viewer, profiles.get(&viewer.user).map(|p| &**p)))?;
            viewers.push(start..json.len());
        }
        json.extend_from_slice(b"],");
        let summary = serde_json::to_vec(&Summary::new(presence, timing))?;
        json.extend_from_slice(summary.strip_prefix(b"{").ok_or_else(|| serde_json::Error::custom("not an object"))?);
        Ok(Document {
            version: presence.version,
            generation,
            written_at: Instant::now(),
            superseding: AtomicBool::new(false),
            viewer_count: presence.viewer_count,
            digest: xxh3_64(&json),
            json: json.into(),
            list_start,
            places: presence.viewers.iter().enumerate().map(|(i, viewer)| (viewer.user.clone(), i)).collect(),
            viewers,
        })
    }

    /// The snapshot as `caller` sees it, with at most `limit` viewers, the caller's entry
    /// as the document has it.
    pub fn view(self: &Arc<Self>, caller: &UserId, limit: usize) -> View {
        let mine = self.places.get(caller).map_or(Mine::Absent, |&place| Mine::Place(place));
        View { document: self.clone(), shown: self.viewers.len().min(limit), mine }
    }

    /// The same with the caller's entry as it is now, for a document older than the page.
    pub fn view_with_own(
        self: &Arc<Self>,
        limit: usize,
        viewer: &ViewerPresence,
        profile: &Profile,
    ) -> serde_json::Result<View> {
        let mut view = self.view(&viewer.user, limit);
        let mut json = Vec::with_capacity(192);
        write_viewer(&mut json, &Viewer::new(viewer, Some(profile)))?;
        json.truncate(json.len() - OTHERS_VIEW_END.len());
        json.extend_from_slice(OWN_VIEW_END);
        view.mine = Mine::Live { place: self.places.get(&viewer.user).copied(), json };
        Ok(view)
    }

    /// Whether the page (or a viewer's profile) changed since this was written.
    pub fn is_older_than(&self, version: Version, generation: u64) -> bool {
        (self.version, self.generation) != (version, generation)
    }

    /// Whether this lists the first `limit` viewers (or all there are).
    pub fn lists(&self, limit: usize) -> bool {
        self.viewers.len() >= limit.min(self.viewer_count)
    }

    /// How many viewers this lists.
    pub fn listed(&self) -> usize {
        self.viewers.len()
    }

    /// Whether `caller` may be on the page further on than this lists.
    pub fn lacks(&self, caller: &UserId) -> bool {
        self.viewers.len() < self.viewer_count && !self.places.contains_key(caller)
    }

    /// Where the list of the first `count` viewers ends in `json`.
    fn list_end(&self, count: usize) -> usize {
        count.checked_sub(1).map_or(self.list_start, |last| self.viewers[last].end)
    }

    /// The viewer at `place` as its own user sees it.
    fn own_view(&self, place: usize) -> [&[u8]; 2] {
        let range = &self.viewers[place];
        [&self.json[range.start..range.end - OTHERS_VIEW_END.len()], OWN_VIEW_END]
    }

    #[cfg(test)]
    pub(super) fn json(&self) -> &[u8] {
        &self.json
    }
}

/// A viewer's JSON as everyone but that user sees it: the object serde writes, with
/// `isCurrentUser` added before its closing brace.
fn write_viewer(json: &mut Vec<u8>, viewer: &Viewer<'_>) -> serde_json::Result<()> {
    serde_json::to_writer(&mut *json, viewer)?;
    if json.pop() != Some(b'}') {
        return Err(serde_json::Error::custom("a viewer is not an object"));
    }
    json.extend_from_slice(OTHERS_VIEW_END);
    Ok(())
}

impl View {
    /// Changes exactly when this caller's body does, and is the same for the same body on
    /// every instance.
    pub fn etag(&self) -> ETag {
        let (place, own) = match &self.mine {
            Mine::Absent => (None, 0),
            Mine::Place(place) => (Some(*place), 0),
            Mine::Live { place, json } => (*place, xxh3_64(json)),
        };
        let place = place.map_or(u64::MAX, |place| place as u64);
        let mut picked = [0; 32];
        for (bytes, value) in picked.chunks_exact_mut(8).zip([self.document.digest, self.shown as u64, place, own]) {
            bytes.copy_from_slice(&value.to_le_bytes());
        }
        ETag::of(&picked)
    }

    /// The snapshot's JSON as this caller gets it: the shared document itself when the
    /// caller is not on the page and sees every viewer, else its slices copied once.
    pub fn body(&self) -> Bytes {
        let document = &*self.document;
        let json = &document.json[..];
        let tail = &json[document.list_end(document.viewers.len())..];
        let (place, own): (Option<usize>, [&[u8]; 2]) = match &self.mine {
            Mine::Absent if self.shown == document.viewers.len() => return document.json.clone(),
            Mine::Absent => return [&json[..document.list_end(self.shown)], tail].concat().into(),
            Mine::Place(place) => (Some(*place), document.own_view(*place)),
            Mine::Live { place, json } => (*place, [json, b""]),
        };
        match place {
            // Among the first: in its place.
            Some(place) if place < self.shown => {
                let before = &json[..document.viewers[place].start];
                let after = &json[document.viewers[place].end..document.list_end(self.shown)];
                [before, own[0], own[1], after, tail].concat().into()
            }
            // Further on, or not in the document: it takes the last shown place.
            _ => {
                let kept = self.shown.saturating_sub(1);
                let separator: &[u8] = if kept > 0 { b"," } else { b"" };
                [&json[..document.list_end(kept)], separator, own[0], own[1], tail].concat().into()
            }
        }
    }
}
