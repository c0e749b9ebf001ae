//! Delisting cases and receiver-side listing state on PostgreSQL (sled:
//! `store::cases`).

use rblfleet_proto::v1::{Case, CaseEvent, CaseState, ReceiverState};

use super::{Pg, db, in_transaction, to_i64, to_u64};
use crate::store::{CasesFor, ReceiverStates, StoreError};

const READ_RECEIVERS: &str = "SELECT ip, provider, record FROM receivers
  WHERE (ip, provider) IN (SELECT * FROM unnest($1::text[], $2::text[]))";
use crate::store::encoding::{decode, encode};

impl Pg {
    /// From the `case_ids` sequence: unique across controllers, never reused.
    pub(crate) fn next_case_id(&self) -> Result<u64, StoreError> {
        self.call(|client| async move {
            let row = client.query_one("SELECT nextval('case_ids')", &[]).await.map_err(db("taking a case id"))?;
            Ok(to_u64(row.get(0)))
        })
    }

    /// The case and its (ip, list) index in one transaction.
    pub(crate) fn put_case(&self, case: &Case) -> Result<(), StoreError> {
        let (id, ip, list_id, updated, record) =
            (to_i64(case.id), case.ip.clone(), case.list_id.clone(), case.updated_ms, encode(case));
        let state = state_name(case.state);
        let history = History::of(&case.history);
        self.call(move |client| async move {
            in_transaction(&client, async {
                client
                    .execute(
                        "INSERT INTO cases (id, ip, list_id, state, updated_ms, record) VALUES ($1, $2, $3, $4, $5, $6)
                         ON CONFLICT (id) DO UPDATE SET ip = EXCLUDED.ip, list_id = EXCLUDED.list_id,
                           state = EXCLUDED.state, updated_ms = EXCLUDED.updated_ms, record = EXCLUDED.record",
                        &[&id, &ip, &list_id, &state, &updated, &record],
                    )
                    .await
                    .map_err(db("storing a case"))?;
                client
                    .execute(
                        "INSERT INTO case_index (ip, list_id, case_id) VALUES ($1, $2, $3)
                         ON CONFLICT (ip, list_id) DO UPDATE SET case_id = EXCLUDED.case_id",
                        &[&ip, &list_id, &id],
                    )
                    .await
                    .map_err(db("indexing a case"))?;
                history.store(&client, id).await
            })
            .await
        })
    }

    pub(crate) fn case(&self, id: u64) -> Result<Option<Case>, StoreError> {
        let id = to_i64(id);
        self.call(move |client| async move {
            let row = client
                .query_opt("SELECT record FROM cases WHERE id = $1", &[&id])
                .await
                .map_err(db("reading a case"))?;
            row.map(|row| decode(&id.to_be_bytes(), row.get(0))).transpose()
        })
    }

    pub(crate) fn case_for(&self, ip: &str, list_id: &str) -> Result<Option<Case>, StoreError> {
        let (ip, list_id) = (ip.to_string(), list_id.to_string());
        self.call(move |client| async move {
            let row = client
                .query_opt(
                    "SELECT c.record FROM case_index i JOIN cases c ON c.id = i.case_id
                      WHERE i.ip = $1 AND i.list_id = $2",
                    &[&ip, &list_id],
                )
                .await
                .map_err(db("finding a case"))?;
            row.map(|row| decode(ip.as_bytes(), row.get(0))).transpose()
        })
    }

    /// For the listings views (a case beside every listing): one query for
    /// all pairs instead of one per listing.
    pub(crate) fn cases_for(&self, pairs: &[(String, String)]) -> Result<CasesFor, StoreError> {
        if pairs.is_empty() {
            return Ok(CasesFor::new());
        }
        let (ips, lists): (Vec<String>, Vec<String>) = pairs.iter().cloned().unzip();
        self.call(move |client| async move {
            let rows = client
                .query(
                    "SELECT i.ip, i.list_id, c.record
                       FROM unnest($1::text[], $2::text[]) AS k(ip, list_id)
                       JOIN case_index i ON i.ip = k.ip AND i.list_id = k.list_id
                       JOIN cases c ON c.id = i.case_id",
                    &[&ips, &lists],
                )
                .await
                .map_err(db("finding cases"))?;
            let mut found = CasesFor::new();
            for row in rows {
                let (ip, list_id): (String, String) = (row.get(0), row.get(1));
                let case = decode(ip.as_bytes(), row.get(2))?;
                found.insert((ip, list_id), case);
            }
            Ok(found)
        })
    }

    pub(crate) fn all_cases(&self) -> Result<Vec<Case>, StoreError> {
        self.call(|client| async move {
            let rows =
                client.query("SELECT id, record FROM cases ORDER BY id", &[]).await.map_err(db("listing cases"))?;
            rows.iter().map(|row| decode(&row.get::<_, i64>(0).to_be_bytes(), row.get(1))).collect()
        })
    }

    pub(crate) fn receiver_state(&self, ip: &str, provider: &str) -> Result<Option<ReceiverState>, StoreError> {
        let mut found = self.receiver_states(&[(ip.to_string(), provider.to_string())])?;
        Ok(found.remove(&(ip.to_string(), provider.to_string())))
    }

    /// Read for every stored report (`cases::work::report_stored`): one
    /// prepared statement, one round trip for all the report's pairs.
    pub(crate) fn receiver_states(&self, pairs: &[(String, String)]) -> Result<ReceiverStates, StoreError> {
        if pairs.is_empty() {
            return Ok(ReceiverStates::new());
        }
        let (ips, providers): (Vec<String>, Vec<String>) = pairs.iter().cloned().unzip();
        self.call(move |client| async move {
            let read = client.prepared(READ_RECEIVERS).await.map_err(db("reading receiver states"))?;
            let rows = client.query(&read, &[&ips, &providers]).await.map_err(db("reading receiver states"))?;
            let mut found = ReceiverStates::new();
            for row in rows {
                let (ip, provider): (String, String) = (row.get(0), row.get(1));
                let state = decode(ip.as_bytes(), row.get(2))?;
                found.insert((ip, provider), state);
            }
            Ok(found)
        })
    }

    pub(crate) fn put_receiver_state(&self, state: &ReceiverState) -> Result<(), StoreError> {
        let (ip, provider, record) = (state.ip.clone(), state.provider.clone(), encode(state));
        self.call(move |client| async move {
            client
                .execute(
                    "INSERT INTO receivers (ip, provider, record) VALUES ($1, $2, $3)
                     ON CONFLICT (ip, provider) DO UPDATE SET record = EXCLUDED.record",
                    &[&ip, &provider, &record],
                )
                .await
                .map_err(db("storing a receiver state"))?;
            Ok(())
        })
    }

    pub(crate) fn all_receiver_states(&self) -> Result<Vec<ReceiverState>, StoreError> {
        self.call(|client| async move {
            let rows = client
                .query("SELECT ip, record FROM receivers ORDER BY ip, provider", &[])
                .await
                .map_err(db("listing receiver states"))?;
            rows.iter().map(|row| decode(row.get::<_, &str>(0).as_bytes(), row.get(1))).collect()
        })
    }
}

fn state_name(state: i32) -> String {
    super::enum_name(CaseState::try_from(state).map(|s| s.as_str_name()), "CASE_STATE_", state)
}

/// A case's events as columns (`case_history`).
struct History {
    n: Vec<i32>,
    at: Vec<i64>,
    who: Vec<String>,
    action: Vec<String>,
    from: Vec<String>,
    to: Vec<String>,
    note: Vec<String>,
    reference: Vec<String>,
    reason: Vec<String>,
}

impl History {
    fn of(events: &[CaseEvent]) -> History {
        History {
            n: (0..events.len()).map(|i| i32::try_from(i).unwrap_or(i32::MAX)).collect(),
            at: events.iter().map(|e| e.at_ms).collect(),
            who: events.iter().map(|e| e.who.clone()).collect(),
            action: events.iter().map(|e| e.action.clone()).collect(),
            from: events.iter().map(|e| state_name(e.from)).collect(),
            to: events.iter().map(|e| state_name(e.to)).collect(),
            note: events.iter().map(|e| e.note.clone()).collect(),
            reference: events.iter().map(|e| e.r#ref.clone()).collect(),
            reason: events.iter().map(|e| e.reason.clone()).collect(),
        }
    }

    /// Replaces the case's stored events with these (a case keeps its
    /// whole history in its record; the table mirrors it).
    async fn store(&self, client: &tokio_postgres::Client, id: i64) -> Result<(), StoreError> {
        client
            .execute(
                "DELETE FROM case_history WHERE case_id = $1 AND n >= $2",
                &[&id, &i32::try_from(self.n.len()).unwrap_or(i32::MAX)],
            )
            .await
            .map_err(db("trimming a case's history"))?;
        client
            .execute(
                "INSERT INTO case_history (case_id, n, at_ms, who, action, from_state, to_state, note, ref, reason)
                 SELECT $1, * FROM unnest($2::int4[], $3::int8[], $4::text[], $5::text[], $6::text[], $7::text[],
                                          $8::text[], $9::text[], $10::text[])
                 ON CONFLICT (case_id, n) DO UPDATE SET at_ms = EXCLUDED.at_ms, who = EXCLUDED.who,
                   action = EXCLUDED.action, from_state = EXCLUDED.from_state, to_state = EXCLUDED.to_state,
                   note = EXCLUDED.note, ref = EXCLUDED.ref, reason = EXCLUDED.reason",
                &[
                    &id,
                    &self.n,
                    &self.at,
                    &self.who,
                    &self.action,
                    &self.from,
                    &self.to,
                    &self.note,
                    &self.reference,
                    &self.reason,
                ],
            )
            .await
            .map_err(db("storing a case's history"))?;
        Ok(())
    }
}
