//! `PageEvents`: a broadcast channel per watched page, for live updates.
//!
//! A store publishes what changed; each stream subscribes to its page. Channels exist
//! only while someone listens, so an unwatched page costs nothing.

use std::collections::HashMap;

use parking_lot::Mutex;

use tokio::sync::broadcast;

use crate::domain::{PagePath, UserId, Version};

/// Events a slow stream may fall behind by before it skips to a fresh snapshot.
const CHANNEL_CAPACITY: usize = 64;
/// Profile changes the sync may fall behind by before it drops every cached profile: a
/// broadcast that starts announces a profile per newcomer, in batches of up to a thousand.
const PROFILE_CHANNEL_CAPACITY: usize = 4_096;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PageEvent {
    /// The user's first live tab on the page appeared.
    Joined(UserId),
    /// The user's last live tab on the page is gone (left or expired).
    Left(UserId),
    /// The page's snapshot changed; it is now at this version.
    Changed(Version),
}

/// A profile that changed on another instance, so this one's cached copy is stale.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ProfileChange {
    User(UserId),
    /// Announcements may have been missed: every cached profile may be stale.
    Unknown,
}

pub struct PageEvents {
    channels: Mutex<HashMap<PagePath, broadcast::Sender<PageEvent>>>,
    profiles: broadcast::Sender<ProfileChange>,
}

impl Default for PageEvents {
    fn default() -> Self {
        Self { channels: Mutex::default(), profiles: broadcast::channel(PROFILE_CHANNEL_CAPACITY).0 }
    }
}

impl PageEvents {
    pub fn subscribe(&self, page: &PagePath) -> broadcast::Receiver<PageEvent> {
        let mut channels = self.channels.lock();
        channels.entry(page.clone()).or_insert_with(|| broadcast::channel(CHANNEL_CAPACITY).0).subscribe()
    }

    pub fn publish(&self, page: &PagePath, events: impl IntoIterator<Item = PageEvent>) {
        let mut channels = self.channels.lock();
        let Some(sender) = channels.get(page) else { return };
        for event in events {
            if sender.send(event).is_err() {
                // Every subscriber is gone: drop the channel with them.
                channels.remove(page);
                return;
            }
        }
    }

    /// Ends every subscription, for a store whose feed of events was cut off: what it missed
    /// meanwhile is unknown, so each stream ends and its client starts again from a fresh
    /// snapshot, and every cached profile counts as stale.
    pub fn close_all(&self) {
        self.channels.lock().clear();
        self.profile_changed(ProfileChange::Unknown);
    }

    pub fn subscribe_profiles(&self) -> broadcast::Receiver<ProfileChange> {
        self.profiles.subscribe()
    }

    pub fn profile_changed(&self, change: ProfileChange) {
        // Nobody listening (the memory store's case) is fine: nothing is cached elsewhere.
        let _ = self.profiles.send(change);
    }

    /// Drops the channels of pages nobody watches any more.
    pub fn prune(&self) {
        let mut channels = self.channels.lock();
        channels.retain(|_, sender| sender.receiver_count() > 0);
    }

    /// Whether someone is watching the page.
    pub fn is_watched(&self, page: &PagePath) -> bool {
        self.channels.lock().get(page).is_some_and(|sender| sender.receiver_count() > 0)
    }

    /// How many pages someone is watching.
    pub fn watched_pages(&self) -> usize {
        self.channels.lock().len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_reach_subscribers_of_their_page_only() {
        let events = PageEvents::default();
        let (a, b) = (PagePath::parse("/a").unwrap(), PagePath::parse("/b").unwrap());
        let mut on_a = events.subscribe(&a);
        let mut on_b = events.subscribe(&b);
        events.publish(&a, [PageEvent::Changed(Version(7))]);
        assert_eq!(on_a.try_recv().unwrap(), PageEvent::Changed(Version(7)));
        assert!(on_b.try_recv().is_err());
    }

    #[test]
    fn closing_all_ends_every_subscription() {
        let events = PageEvents::default();
        let mut watcher = events.subscribe(&PagePath::parse("/a").unwrap());
        events.close_all();
        assert_eq!(watcher.try_recv(), Err(broadcast::error::TryRecvError::Closed));
        assert_eq!(events.watched_pages(), 0);
    }

    #[test]
    fn a_channel_goes_when_its_last_subscriber_does() {
        let events = PageEvents::default();
        let page = PagePath::parse("/a").unwrap();
        drop(events.subscribe(&page));
        assert_eq!(events.watched_pages(), 1);
        events.publish(&page, [PageEvent::Changed(Version(1))]);
        assert_eq!(events.watched_pages(), 0);
    }
}
