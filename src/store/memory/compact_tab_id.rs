//! A tab id as the registry keeps it: the 16 bytes of a UUID for the ids browsers make
//! (`crypto.randomUUID()`), a shared string for any other.

use std::sync::Arc;

use uuid::Uuid;

use crate::domain::TabId;

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum CompactTabId {
    Uuid([u64; 2]),
    Text(Arc<str>),
}

impl From<&TabId> for CompactTabId {
    fn from(id: &TabId) -> Self {
        let text = id.as_str();
        // Only the lower-case hyphenated form is packed: another spelling of the same
        // UUID is another tab id, and must stay one.
        match Uuid::try_parse(text) {
            Ok(uuid) if uuid.hyphenated().encode_lower(&mut Uuid::encode_buffer()) == text => {
                let (high, low) = uuid.as_u64_pair();
                Self::Uuid([high, low])
            }
            _ => Self::Text(text.into()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn compact(raw: &str) -> CompactTabId {
        CompactTabId::from(&TabId::parse(raw).unwrap())
    }

    #[test]
    fn browser_uuids_are_packed_and_other_ids_kept_as_written() {
        let id = "3f2b8c1e-9a4d-4e7b-8c2a-1d5e6f7a8b9c";
        assert!(matches!(compact(id), CompactTabId::Uuid(_)));
        assert_eq!(compact(id), compact(id));
        assert_ne!(compact(id), compact("3f2b8c1e-9a4d-4e7b-8c2a-1d5e6f7a8b9d"));
        assert_eq!(compact(&id.to_uppercase()), CompactTabId::Text(id.to_uppercase().into()));
        assert_eq!(
            compact("3f2b8c1e9a4d4e7b8c2a1d5e6f7a8b9c"),
            CompactTabId::Text("3f2b8c1e9a4d4e7b8c2a1d5e6f7a8b9c".into())
        );
        assert_eq!(compact("tab-1"), CompactTabId::Text("tab-1".into()));
        assert_eq!(size_of::<CompactTabId>(), 24);
    }
}
