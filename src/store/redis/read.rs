//! Reading a page: its first viewers, counts and editor, or one viewer, in plain commands
//! sent right after `page.lua` expires the page's due tabs, in the same round trip. The
//! reads stay out of the script because Redis hands a script every reply value by value,
//! which costs more than the reads themselves.

use std::collections::HashMap;

use anyhow::Context;

use super::keys;
use super::script::PageAnswer;
use super::Shared;
use crate::domain::{PagePath, PagePresence, UserId, ViewerPresence};

impl Shared {
    /// The page with its first `limit` viewers: `:viewers` names them in order, `:owned`
    /// holds what the snapshot shows of each.
    pub(super) async fn presence(&self, page: &PagePath, limit: usize) -> anyhow::Result<PagePresence> {
        let keys = self.keys.page(page);
        // `ZRANGE 0 -1` is every viewer: none asked for is the empty range 1..0.
        let (first, last) = match isize::try_from(limit) {
            Ok(0) => (1, 0),
            Ok(limit) => (0, limit - 1),
            Err(_) => (0, -1),
        };
        let mut calls = self.expiry_then(page);
        calls.zcard(&keys.viewers).hlen(&keys.tabs).zrange(&keys.editors, 0, 0).zrange(&keys.viewers, first, last);
        let (answer, viewer_count, tab_count, editor, named): (PageAnswer, usize, usize, Vec<String>, Vec<String>) =
            self.read_page(page, &calls).await?;
        let owned =
            self.owned(&keys.owned, &named, viewer_count).await.with_context(|| format!("reading page {page}"))?;
        let viewers = named.iter().zip(owned).filter_map(|(user, owned)| keys::parse_viewer(user, &owned?));
        Ok(PagePresence {
            viewers: viewers.collect(),
            viewer_count,
            tab_count,
            editor: editor.first().and_then(|user| UserId::parse(user).ok()),
            version: answer.version,
        })
    }

    /// One viewer of the page, from their entry in `:owned`.
    pub(super) async fn viewer(&self, page: &PagePath, user: &UserId) -> anyhow::Result<Option<ViewerPresence>> {
        let mut calls = self.expiry_then(page);
        calls.hget(self.keys.page(page).owned, user.as_str());
        let (_, owned): (PageAnswer, Option<String>) = self.read_page(page, &calls).await?;
        Ok(owned.and_then(|owned| keys::parse_viewer(user.as_str(), &owned)))
    }

    /// The `:owned` entries of the users `named`, in their order. When they are all of the
    /// page's `viewer_count`, one `HGETALL`: a small page's hash is a list Redis searches
    /// from the start for each field `HMGET` names.
    async fn owned(
        &self,
        owned: &str,
        named: &[String],
        viewer_count: usize,
    ) -> redis::RedisResult<Vec<Option<String>>> {
        let mut redis = self.redis.clone();
        if named.is_empty() {
            return Ok(Vec::new());
        }
        if named.len() < viewer_count {
            return redis::cmd("HMGET").arg(owned).arg(named).query_async(&mut redis).await;
        }
        let mut all: HashMap<String, String> = redis::cmd("HGETALL").arg(owned).query_async(&mut redis).await?;
        Ok(named.iter().map(|user| all.remove(user)).collect())
    }
}
