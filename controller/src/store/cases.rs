//! Delisting cases and receiver-side listing state.
//!
//! Trees:
//! - `cases`: case id (u64 BE) → `Case`.
//! - `case_index`: ip, 0x00, list id → case id (one case per (IP, list)).
//! - `receivers`: ip, 0x00, provider → `ReceiverState`.
//! - `meta/next_case_id`: the next id to hand out (ids start at 1).

use rblfleet_proto::v1::{Case, ReceiverState};

use super::encoding::{decode, encode};
use super::{Sled, StoreError};

const NEXT_ID: &[u8] = b"next_case_id";

fn pair_key(ip: &str, list_id: &str) -> Vec<u8> {
    let mut key = ip.as_bytes().to_vec();
    key.push(0);
    key.extend_from_slice(list_id.as_bytes());
    key
}

fn id_of(raw: &[u8]) -> Option<u64> {
    <[u8; 8]>::try_from(raw).ok().map(u64::from_be_bytes)
}

impl Sled {
    /// A fresh case id.
    pub fn next_case_id(&self) -> Result<u64, StoreError> {
        let next = self.meta.update_and_fetch(NEXT_ID, |old| {
            let n = old.and_then(id_of).unwrap_or(0);
            Some((n + 1).to_be_bytes().to_vec())
        })?;
        Ok(next.as_deref().and_then(id_of).unwrap_or(1))
    }

    /// Stores a case and indexes it by (ip, list). In the writer's turn, so
    /// a backup (which holds the turn) never sees the case without its index.
    pub fn put_case(&self, case: &Case) -> Result<(), StoreError> {
        let _turn = self.write_turn();
        self.cases.insert(case.id.to_be_bytes(), encode(case))?;
        self.case_index.insert(pair_key(&case.ip, &case.list_id), &case.id.to_be_bytes())?;
        Ok(())
    }

    pub fn case(&self, id: u64) -> Result<Option<Case>, StoreError> {
        let key = id.to_be_bytes();
        self.cases.get(key)?.map(|raw| decode(&key, &raw)).transpose()
    }

    /// The case of (ip, list), if one was ever opened.
    pub fn case_for(&self, ip: &str, list_id: &str) -> Result<Option<Case>, StoreError> {
        match self.case_index.get(pair_key(ip, list_id))?.as_deref().and_then(id_of) {
            Some(id) => self.case(id),
            None => Ok(None),
        }
    }

    /// [`Sled::case_for`] of each pair; pairs without a case are absent.
    pub fn cases_for(&self, pairs: &[(String, String)]) -> Result<super::CasesFor, StoreError> {
        let mut found = super::CasesFor::new();
        for (ip, list_id) in pairs {
            if let Some(case) = self.case_for(ip, list_id)? {
                found.insert((ip.clone(), list_id.clone()), case);
            }
        }
        Ok(found)
    }

    /// Every case, by id.
    pub fn all_cases(&self) -> Result<Vec<Case>, StoreError> {
        self.cases
            .iter()
            .map(|entry| {
                let (key, raw) = entry?;
                decode(&key, &raw)
            })
            .collect()
    }

    pub fn receiver_state(&self, ip: &str, provider: &str) -> Result<Option<ReceiverState>, StoreError> {
        let key = pair_key(ip, provider);
        self.receivers.get(&key)?.map(|raw| decode(&key, &raw)).transpose()
    }

    pub fn receiver_states(&self, pairs: &[(String, String)]) -> Result<super::ReceiverStates, StoreError> {
        let mut found = super::ReceiverStates::new();
        for (ip, provider) in pairs {
            if let Some(state) = self.receiver_state(ip, provider)? {
                found.insert((ip.clone(), provider.clone()), state);
            }
        }
        Ok(found)
    }

    pub fn put_receiver_state(&self, state: &ReceiverState) -> Result<(), StoreError> {
        self.receivers.insert(pair_key(&state.ip, &state.provider), encode(state))?;
        Ok(())
    }

    /// Every receiver state (for the report and for closing listings on time).
    pub fn all_receiver_states(&self) -> Result<Vec<ReceiverState>, StoreError> {
        self.receivers
            .iter()
            .map(|entry| {
                let (key, raw) = entry?;
                decode(&key, &raw)
            })
            .collect()
    }
}
