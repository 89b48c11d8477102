//! What reaches this instance from the others: the page events `page.lua` publishes and the
//! profile changes instances announce, both pushed (RESP3) on the store's connection.

use std::convert::Infallible;
use std::sync::Arc;

use hashbrown::HashMap;
use parking_lot::Mutex;
use redis::{Msg, PushInfo, PushKind};

use super::keys::{self, EventsMessage};
use crate::domain::UserId;
use crate::store::events::{PageEvents, ProfileChange};

/// This instance's own profile announcements on their way back to it: the subscription
/// hears them like any other, but this instance already holds the profile, and dropping it
/// would make every cached snapshot stale. Counted per user, since each announcement comes
/// back exactly once while the connection lasts; a disconnection forgets them all.
#[derive(Default)]
pub(super) struct OwnAnnouncements {
    pending: Mutex<HashMap<UserId, u32>>,
}

impl OwnAnnouncements {
    /// Counts one about to be published.
    pub fn expect(&self, user: &UserId) {
        *self.pending.lock().entry(user.clone()).or_default() += 1;
    }

    /// Stops counting one whose publishing failed.
    pub fn cancel(&self, user: &UserId) {
        self.take(user);
    }

    /// Whether an announcement heard about `user` is one of these (and stops counting it).
    fn take(&self, user: &UserId) -> bool {
        let mut pending = self.pending.lock();
        let Some(count) = pending.get_mut(user) else { return false };
        *count -= 1;
        if *count == 0 {
            pending.remove(user);
        }
        true
    }

    fn clear(&self) {
        self.pending.lock().clear();
    }
}

/// Feeds the store's watchers with what is published on the events channel, and with the
/// profile changes announced on the channel `profiles` by the other instances.
pub(super) fn feed(
    events: Arc<PageEvents>,
    own: Arc<OwnAnnouncements>,
    profiles: String,
) -> impl Fn(PushInfo) -> Result<(), Infallible> + Send + Sync + 'static {
    move |push| {
        if push.kind == PushKind::Disconnection {
            // Messages published until the reconnect are lost: a stream that went on would
            // miss them, so every stream ends and its client starts again from a snapshot.
            events.close_all();
            own.clear();
        } else if let Some(message) = Msg::from_push_info(push) {
            let payload = message.get_payload_bytes();
            if message.get_channel_name() == profiles {
                match keys::parse_profile_change(payload) {
                    Some(user) if own.take(&user) => {}
                    Some(user) => events.profile_changed(ProfileChange::User(user)),
                    None => tracing::warn!("ignored a malformed message on the profile changes channel"),
                }
                return Ok(());
            }
            match EventsMessage::parse(payload) {
                Some(message) => events.publish(&message.page, message.events),
                None => tracing::warn!("ignored a malformed message on the page events channel"),
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_own_announcement_is_recognised_once() {
        let own = OwnAnnouncements::default();
        let alice = UserId::parse("alice").unwrap();
        own.expect(&alice);
        own.expect(&alice);
        assert!(own.take(&alice) && own.take(&alice), "both come back");
        assert!(!own.take(&alice), "a third is another instance's");
        own.expect(&alice);
        own.cancel(&alice);
        assert!(!own.take(&alice), "one that was never published is not waited for");
        own.expect(&alice);
        own.clear();
        assert!(!own.take(&alice), "a disconnection loses what was on its way");
    }
}
