//! Every name and text encoding the registry shares with its scripts and with the other
//! instances. A deployment upgrades one instance at a time, against data the older ones
//! wrote and scripts they still run, so none of these may change: the tests pin each.

use crate::domain::time::from_unix_micros;
use crate::domain::{PagePath, Peak, TabId, TabKey, UserId, Version, ViewerPresence};
use crate::store::events::PageEvent;

/// The fields of a page's `:meta` hash read outside `page.lua` (which writes them all,
/// and `version` besides).
pub(super) const META_PEAK: &str = "peak";
pub(super) const META_PEAK_AT: &str = "peak_at";
pub(super) const META_SAVED: &str = "saved";

/// The names of the keys and channels, all under one prefix so deployments can share a Redis.
pub(super) struct Keys {
    prefix: String,
}

/// One page's keys. They share the hash tag `{<page>}`, so `page.lua` stays in one Redis
/// Cluster slot.
pub(super) struct PageKeys {
    pub tabs: String,
    pub deadlines: String,
    pub users: String,
    pub meta: String,
    pub viewers: String,
    pub editors: String,
    pub owned: String,
}

impl PageKeys {
    /// The `KEYS` of `page.lua`, in its order.
    pub fn as_args(&self) -> [&str; 7] {
        [&self.tabs, &self.deadlines, &self.users, &self.meta, &self.viewers, &self.editors, &self.owned]
    }
}

impl Keys {
    pub fn new(prefix: &str) -> Self {
        Self { prefix: prefix.to_owned() }
    }

    pub fn page(&self, page: &PagePath) -> PageKeys {
        let key = |part: &str| format!("{}:{{{}}}:{part}", self.prefix, page.as_str());
        PageKeys {
            tabs: key("tabs"),
            deadlines: key("deadlines"),
            users: key("users"),
            meta: key("meta"),
            viewers: key("viewers"),
            editors: key("editors"),
            owned: key("owned"),
        }
    }

    /// The user's tabs over all pages: the `KEYS` of `user.lua`.
    pub fn user_tabs(&self, user: &UserId) -> String {
        format!("{}:user:{{{user}}}:tabs", self.prefix)
    }

    /// The index of pages with tabs, by (a lower bound of) their earliest deadline.
    pub fn pages(&self) -> String {
        format!("{}:pages", self.prefix)
    }

    pub fn unsaved_peaks(&self) -> String {
        format!("{}:unsaved-peaks", self.prefix)
    }

    /// Where `page.lua` publishes each change of the page (see [`EventsMessage`]): a channel
    /// a page, so an instance hears only the pages it has streams on.
    pub fn page_events(&self, page: &PagePath) -> String {
        format!("{}:{{{}}}:events", self.prefix, page.as_str())
    }

    /// Where instances announce profile changes: the payload is the user id.
    pub fn profiles(&self) -> String {
        format!("{}:profiles", self.prefix)
    }
}

/// A tab's field in its page's `:tabs` and `:deadlines`: `<tab id>:<user id>`. Tab ids have
/// no `:`, so the first one ends the tab id, and user ids may hold more.
pub(super) fn tab_field(tab: &TabKey) -> String {
    format!("{}:{}", tab.tab.as_str(), tab.user)
}

/// A viewer from their entry in the page's `:owned`: `<joinedAt µs> <editing since µs, or
/// 0> <tab id> …`, their earliest times on the page and their tabs. `None` if it is not one.
pub(super) fn parse_viewer(user: &str, owned: &str) -> Option<ViewerPresence> {
    let mut fields = owned.split(' ');
    let joined_us: u64 = fields.next()?.parse().ok()?;
    let editing_us: u64 = fields.next()?.parse().ok()?;
    let tab_count = u32::try_from(fields.filter(|id| !id.is_empty()).count()).ok().filter(|&tabs| tabs > 0)?;
    Some(ViewerPresence {
        user: UserId::parse(user).ok()?,
        tab_count,
        joined_at: from_unix_micros(joined_us),
        editing_since: (editing_us > 0).then(|| from_unix_micros(editing_us)),
    })
}

/// Whether a tab's state in `:tabs` (`<joinedAt µs> <editing since µs, or 0>`) says it is
/// editing; `None` if it is not one.
pub(super) fn is_editing(state: &str) -> Option<bool> {
    let (_, since) = state.split_once(' ')?;
    Some(since.parse::<u64>().ok()? > 0)
}

/// A tab's member in its user's `:tabs`: `<page>\n<tab id>` (page paths have no newline).
pub(super) fn user_tab(page: &PagePath, tab: &TabId) -> String {
    format!("{}\n{}", page.as_str(), tab.as_str())
}

/// A page's peak as `:meta` keeps it: the viewer count and its time in µs, either of which
/// may be missing.
pub(super) fn peak(viewer_count: Option<usize>, at_us: Option<u64>) -> Option<Peak> {
    Some(Peak { viewer_count: viewer_count?, at: from_unix_micros(at_us?) })
}

/// A message on the events channel: `<page>\n<version>`, then a line `+<user>` per join and
/// `-<user>` per leave (page paths and user ids have no control characters).
#[derive(Debug)]
pub(super) struct EventsMessage {
    pub page: PagePath,
    /// The joins and leaves in order, then the page's new version.
    pub events: Vec<PageEvent>,
}

impl EventsMessage {
    /// `None` if the payload is not one.
    pub fn parse(payload: &[u8]) -> Option<Self> {
        let mut lines = std::str::from_utf8(payload).ok()?.split('\n');
        let page = PagePath::parse(lines.next()?).ok()?;
        let version = Version(lines.next()?.parse().ok()?);
        let mut events = lines
            .map(|line| {
                let user = UserId::parse(line.get(1..)?).ok()?;
                match line.as_bytes().first()? {
                    b'+' => Some(PageEvent::Joined(user)),
                    b'-' => Some(PageEvent::Left(user)),
                    _ => None,
                }
            })
            .collect::<Option<Vec<_>>>()?;
        events.push(PageEvent::Changed(version));
        Some(Self { page, events })
    }
}

/// A message on the profiles channel: the user whose profile changed.
pub(super) fn parse_profile_change(payload: &[u8]) -> Option<UserId> {
    UserId::parse(std::str::from_utf8(payload).ok()?).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn user(id: &str) -> UserId {
        UserId::parse(id).unwrap()
    }

    fn page(path: &str) -> PagePath {
        PagePath::parse(path).unwrap()
    }

    #[test]
    fn key_and_channel_names_keep_their_spelling() {
        let keys = Keys::new("p");
        assert_eq!(
            keys.page(&page("/docs")).as_args(),
            [
                "p:{/docs}:tabs",
                "p:{/docs}:deadlines",
                "p:{/docs}:users",
                "p:{/docs}:meta",
                "p:{/docs}:viewers",
                "p:{/docs}:editors",
                "p:{/docs}:owned"
            ]
        );
        assert_eq!(keys.user_tabs(&user("u:1")), "p:user:{u:1}:tabs");
        assert_eq!(
            [keys.pages(), keys.unsaved_peaks(), keys.page_events(&page("/docs")), keys.profiles()],
            ["p:pages", "p:unsaved-peaks", "p:{/docs}:events", "p:profiles"]
        );
    }

    /// What Redis Cluster hashes of a key: the part between the first `{` and the next `}`.
    fn hash_tag(key: &str) -> &str {
        let open = key.find('{').unwrap();
        let close = open + key[open..].find('}').unwrap();
        &key[open + 1..close]
    }

    #[test]
    fn page_keys_share_one_hash_tag() {
        let keys = Keys::new("p");
        for (path, tag) in [("/docs", "/docs"), ("/docs/a}b", "/docs/a")] {
            let page_keys = keys.page(&page(path));
            let page_keys = page_keys.as_args();
            assert!(page_keys.iter().all(|key| hash_tag(key) == tag), "{page_keys:?}");
        }
    }

    #[test]
    fn messages_carry_the_page_its_version_and_who_came_and_went() {
        let message = EventsMessage::parse(b"/docs\n1700000000000001\n+alice\n-bob").unwrap();
        assert_eq!(message.page.as_str(), "/docs");
        assert_eq!(
            message.events,
            [
                PageEvent::Joined(user("alice")),
                PageEvent::Left(user("bob")),
                PageEvent::Changed(Version(1_700_000_000_000_001))
            ]
        );
        assert_eq!(EventsMessage::parse(b"/\n0").unwrap().events, [PageEvent::Changed(Version::EMPTY)]);
    }

    #[test]
    fn malformed_messages_are_refused() {
        for bad in [
            &b""[..],
            b"/docs",
            b"docs\n1",
            b"/docs\nv1",
            b"/docs\n1\nalice",
            b"/docs\n1\n+",
            b"/docs\n1\n\xe9a",
            b"\xff",
        ] {
            assert!(EventsMessage::parse(bad).is_none(), "{:?}", String::from_utf8_lossy(bad));
        }
        assert_eq!(parse_profile_change(b"u:1"), Some(user("u:1")));
        assert_eq!(parse_profile_change(b"\xff"), None);
    }

    #[test]
    fn tabs_are_named_by_tab_then_user() {
        let key = TabKey { user: user("u:1"), tab: TabId::parse("t-1").unwrap() };
        assert_eq!(tab_field(&key), "t-1:u:1", "a user id may hold a ':', a tab id not");
    }

    #[test]
    fn viewers_are_read_from_their_owned_entries() {
        assert_eq!(
            parse_viewer("u:1", "1700000000000001 0 t-1 t-2"),
            Some(ViewerPresence {
                user: user("u:1"),
                tab_count: 2,
                joined_at: from_unix_micros(1_700_000_000_000_001),
                editing_since: None
            })
        );
        assert_eq!(parse_viewer("u", "5 7 t").unwrap().editing_since, Some(from_unix_micros(7)));
        for (user, owned) in [("", "5 0 t"), ("u", "5 0"), ("u", "5 0 "), ("u", "x 0 t"), ("u", "5")] {
            assert!(parse_viewer(user, owned).is_none(), "{user:?} {owned:?}");
        }
    }

    #[test]
    fn a_tab_s_state_says_whether_it_is_editing() {
        assert_eq!(is_editing("1700000000000001 0"), Some(false));
        assert_eq!(is_editing("1700000000000001 1700000000000002"), Some(true));
        assert_eq!(is_editing("1700000000000001"), None);
        assert_eq!(is_editing("1 x"), None);
    }

    #[test]
    fn a_users_tabs_are_named_by_page_and_tab() {
        assert_eq!(user_tab(&page("/docs/a"), &TabId::parse("t-1").unwrap()), "/docs/a\nt-1");
    }

    #[test]
    fn a_peak_needs_its_count_and_its_time() {
        assert_eq!(peak(Some(3), Some(7)), Some(Peak { viewer_count: 3, at: from_unix_micros(7) }));
        assert_eq!(peak(None, Some(7)), None);
        assert_eq!(peak(Some(3), None), None);
    }
}
