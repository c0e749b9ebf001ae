//! Containment actions and their audit (issue 16).
//!
//! Tree `actions`: action id → [`encoding`](super::encoding) of an
//! `ActionRecord` (the signed action, its state, the agent's result, the
//! audit lines). Ids are unique and never reused; a host has few actions,
//! so lookups by host scan the tree.

use rblfleet_proto::v1::ActionRecord;

use super::encoding::{decode, encode};
use super::{Sled, StoreError};

impl Sled {
    /// Writes `record` (created or updated), flushed: an approved action is
    /// on disk before the CLI says so.
    pub fn put_action(&self, record: &ActionRecord) -> Result<(), StoreError> {
        let id = record.action.as_ref().map(|a| a.id.as_str()).unwrap_or_default();
        self.actions.insert(id.as_bytes(), encode(record))?;
        self.actions.flush()?;
        Ok(())
    }

    pub fn action(&self, id: &str) -> Result<Option<ActionRecord>, StoreError> {
        match self.actions.get(id.as_bytes())? {
            Some(raw) => Ok(Some(decode(id.as_bytes(), &raw)?)),
            None => Ok(None),
        }
    }

    /// Every action record (of `host_id` when given), newest first.
    pub fn actions(&self, host_id: Option<&str>) -> Result<Vec<ActionRecord>, StoreError> {
        self.actions_where(|host| host_id.is_none_or(|h| host == Some(h)))
    }

    /// The action records of several hosts (`hosts` sorted), newest first:
    /// one scan for a whole ingest batch (see `acks`).
    pub(super) fn actions_of(&self, hosts: &[String]) -> Result<Vec<ActionRecord>, StoreError> {
        self.actions_where(|host| host.is_some_and(|host| hosts.binary_search_by(|h| h.as_str().cmp(host)).is_ok()))
    }

    fn actions_where(&self, wanted: impl Fn(Option<&str>) -> bool) -> Result<Vec<ActionRecord>, StoreError> {
        let mut out = Vec::new();
        for item in self.actions.iter() {
            let (key, value) = item?;
            let record: ActionRecord = decode(&key, &value)?;
            if wanted(record.action.as_ref().map(|a| a.host_id.as_str())) {
                out.push(record);
            }
        }
        out.sort_by_key(|r| std::cmp::Reverse(r.created_ms));
        Ok(out)
    }
}
