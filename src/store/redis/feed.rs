//! What reaches this instance from the others: the page events `page.lua` publishes and the
//! profile changes instances announce, both pushed (RESP3) on the store's connection.

use std::convert::Infallible;
use std::sync::Arc;

use redis::{Msg, PushInfo, PushKind};

use super::keys::{self, EventsMessage};
use crate::store::events::{PageEvents, ProfileChange};

/// Feeds the store's watchers with what is published on the events channel, and with the
/// profile changes announced on the channel `profiles`, from whichever instance.
pub(super) fn feed(
    events: Arc<PageEvents>,
    profiles: String,
) -> impl Fn(PushInfo) -> Result<(), Infallible> + Send + Sync + 'static {
    move |push| {
        if push.kind == PushKind::Disconnection {
            // Messages published until the reconnect are lost: a stream that went on would
            // miss them, so every stream ends and its client starts again from a snapshot.
            events.close_all();
        } else if let Some(message) = Msg::from_push_info(push) {
            let payload = message.get_payload_bytes();
            if message.get_channel_name() == profiles {
                match keys::parse_profile_change(payload) {
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
