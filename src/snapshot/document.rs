//! `Document`: one page's snapshot written once, and `View`, the snapshot as one caller
//! sees it, cut from that document.
//!
//! The document is the JSON a caller who is not on the page gets when every viewer is
//! listed, written in parts: the page path, each viewer (with where it lies), then the
//! counts. Any other caller's body is a few slices of it (cut at its `limit`, its own viewer
//! marked `isCurrentUser`), and its `ETag` a hash of the document's digest and what picks
//! those slices: nothing is serialized per request.

use std::collections::HashMap;
use std::ops::Range;
use std::sync::Arc;

use actix_web::web::Bytes;
use serde::ser::Error as _;
use xxhash_rust::xxh3::xxh3_64;

use super::etag::ETag;
use super::wire::{Summary, Timing, Viewer};
use crate::domain::{PagePath, PagePresence, Profile, UserId, Version};

/// How a viewer's JSON ends for everyone but that user, and for that user.
const OTHERS_VIEW_END: &[u8] = br#","isCurrentUser":false}"#;
const OWN_VIEW_END: &[u8] = br#","isCurrentUser":true}"#;

pub struct Document {
    pub(super) version: Version,
    /// The directory's generation the profiles were read at.
    pub(super) generation: u64,
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
pub struct View<'a> {
    document: &'a Document,
    shown: usize,
    mine: Option<usize>,
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
            digest: xxh3_64(&json),
            json: json.into(),
            list_start,
            places: presence.viewers.iter().enumerate().map(|(i, viewer)| (viewer.user.clone(), i)).collect(),
            viewers,
        })
    }

    /// The snapshot as `caller` sees it, with at most `limit` viewers.
    pub fn view(&self, caller: &UserId, limit: usize) -> View<'_> {
        View { document: self, shown: self.viewers.len().min(limit), mine: self.places.get(caller).copied() }
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

impl View<'_> {
    /// Changes exactly when this caller's body does, and is the same for the same body on
    /// every instance.
    pub fn etag(&self) -> ETag {
        let mine = self.mine.map_or(u64::MAX, |place| place as u64);
        let mut picked = [0; 24];
        for (bytes, value) in picked.chunks_exact_mut(8).zip([self.document.digest, self.shown as u64, mine]) {
            bytes.copy_from_slice(&value.to_le_bytes());
        }
        ETag::of(&picked)
    }

    /// The snapshot's JSON as this caller gets it: the shared document itself when the
    /// caller is not on the page and sees every viewer, else its slices copied once.
    pub fn body(&self) -> Bytes {
        let document = self.document;
        let json = &document.json[..];
        let tail = &json[document.list_end(document.viewers.len())..];
        match self.mine {
            None if self.shown == document.viewers.len() => document.json.clone(),
            None => [&json[..document.list_end(self.shown)], tail].concat().into(),
            // Among the first: marked where it is.
            Some(mine) if mine < self.shown => {
                let [own, end] = document.own_view(mine);
                let before = &json[..document.viewers[mine].start];
                let after = &json[document.viewers[mine].end..document.list_end(self.shown)];
                [before, own, end, after, tail].concat().into()
            }
            // Further on: it takes the last shown place.
            Some(mine) => {
                let kept = self.shown.saturating_sub(1);
                let separator: &[u8] = if kept > 0 { b"," } else { b"" };
                let [own, end] = document.own_view(mine);
                [&json[..document.list_end(kept)], separator, own, end, tail].concat().into()
            }
        }
    }
}
