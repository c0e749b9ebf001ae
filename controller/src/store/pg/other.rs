//! Actions, the outbreak detector's state, the fleet's domains and the
//! store-wide odds and ends on PostgreSQL (sled: `store::actions`,
//! `store::outbreak`, `store::domains`, `store::space`, `store::verify`).

use std::collections::BTreeMap;

use rblfleet_proto::v1::{ActionRecord, DomainHost, HostDomains, OutbreakWarning, SendingDomain};

use super::{Pg, db, in_transaction, to_u64};
use crate::store::encoding::{decode, encode};
use crate::store::{MAX_WARNINGS_PER_HOST, SpaceStatus, StoreError, VerifyReport, WatchedDomain};

const READ_ACTIONS: &str = "SELECT id, record FROM actions WHERE $1::text IS NULL OR host_id = $1
  ORDER BY created_ms DESC, id";

impl Pg {
    pub(crate) fn put_action(&self, record: &ActionRecord) -> Result<(), StoreError> {
        let action = record.action.as_ref();
        let id = action.map(|a| a.id.clone()).unwrap_or_default();
        let host_id = action.map(|a| a.host_id.clone()).unwrap_or_default();
        let (created, bytes) = (record.created_ms, encode(record));
        self.call(move |client| async move {
            client
                .execute(
                    "INSERT INTO actions (id, host_id, created_ms, record) VALUES ($1, $2, $3, $4)
                     ON CONFLICT (id) DO UPDATE
                       SET host_id = EXCLUDED.host_id, created_ms = EXCLUDED.created_ms, record = EXCLUDED.record",
                    &[&id, &host_id, &created, &bytes],
                )
                .await
                .map_err(db("storing an action"))?;
            Ok(())
        })
    }

    pub(crate) fn action(&self, id: &str) -> Result<Option<ActionRecord>, StoreError> {
        let id = id.to_string();
        self.call(move |client| async move {
            let row = client
                .query_opt("SELECT record FROM actions WHERE id = $1", &[&id])
                .await
                .map_err(db("reading an action"))?;
            row.map(|row| decode(id.as_bytes(), row.get(0))).transpose()
        })
    }

    pub(crate) fn actions(&self, host_id: Option<&str>) -> Result<Vec<ActionRecord>, StoreError> {
        let host_id = host_id.map(str::to_string);
        self.call(move |client| async move {
            // Read for every report's ack: prepared once per connection.
            let read = client.prepared(READ_ACTIONS).await.map_err(db("listing actions"))?;
            let rows = client.query(&read, &[&host_id]).await.map_err(db("listing actions"))?;
            rows.iter().map(|row| decode(row.get::<_, &str>(0).as_bytes(), row.get(1))).collect()
        })
    }

    /// State, warnings and the pruning of the oldest cleared ones past the
    /// bound, in one transaction.
    pub(crate) fn save_outbreak(
        &self,
        host_id: &str,
        state: &[u8],
        warnings: &[OutbreakWarning],
    ) -> Result<(), StoreError> {
        let (host_id, state) = (host_id.to_string(), state.to_vec());
        let kinds: Vec<i32> = warnings.iter().map(|w| w.source_kind).collect();
        let sources: Vec<String> = warnings.iter().map(|w| w.source_id.clone()).collect();
        let first: Vec<i64> = warnings.iter().map(|w| w.first_seen_ms).collect();
        let cleared: Vec<i64> = warnings.iter().map(|w| w.cleared_ms).collect();
        let records: Vec<Vec<u8>> = warnings.iter().map(encode).collect();
        let bound = i64::try_from(MAX_WARNINGS_PER_HOST).unwrap_or(i64::MAX);
        self.call(move |client| async move {
            in_transaction(&client, async {
                client
                    .execute(
                        "INSERT INTO outbreak (host_id, state) VALUES ($1, $2)
                         ON CONFLICT (host_id) DO UPDATE SET state = EXCLUDED.state",
                        &[&host_id, &state],
                    )
                    .await
                    .map_err(db("storing outbreak state"))?;
                if records.is_empty() {
                    return Ok(());
                }
                client
                    .execute(
                        "INSERT INTO warnings (host_id, source_kind, source_id, first_seen_ms, cleared_ms, record)
                         SELECT $1, * FROM unnest($2::int4[], $3::text[], $4::int8[], $5::int8[], $6::bytea[])
                         ON CONFLICT (host_id, source_kind, source_id, first_seen_ms) DO UPDATE
                           SET cleared_ms = EXCLUDED.cleared_ms, record = EXCLUDED.record",
                        &[&host_id, &kinds, &sources, &first, &cleared, &records],
                    )
                    .await
                    .map_err(db("storing warnings"))?;
                client
                    .execute(
                        "DELETE FROM warnings WHERE (host_id, source_kind, source_id, first_seen_ms) IN (
                           SELECT host_id, source_kind, source_id, first_seen_ms FROM warnings
                            WHERE host_id = $1 AND cleared_ms <> 0
                              AND (source_kind, source_id, first_seen_ms) NOT IN
                                  (SELECT * FROM unnest($2::int4[], $3::text[], $4::int8[]))
                            ORDER BY cleared_ms
                            LIMIT greatest((SELECT count(*) FROM warnings WHERE host_id = $1) - $5, 0))",
                        &[&host_id, &kinds, &sources, &first, &bound],
                    )
                    .await
                    .map_err(db("pruning warnings"))?;
                Ok(())
            })
            .await
        })
    }

    pub(crate) fn outbreak_state(&self, host_id: &str) -> Result<Option<Vec<u8>>, StoreError> {
        let host_id = host_id.to_string();
        self.call(move |client| async move {
            let row = client
                .query_opt("SELECT state FROM outbreak WHERE host_id = $1", &[&host_id])
                .await
                .map_err(db("reading outbreak state"))?;
            Ok(row.map(|row| row.get(0)))
        })
    }

    pub(crate) fn warnings_of(&self, host_id: &str) -> Result<Vec<OutbreakWarning>, StoreError> {
        let host_id = host_id.to_string();
        self.call(move |client| async move {
            let rows = client
                .query(
                    "SELECT record FROM warnings WHERE host_id = $1
                      ORDER BY first_seen_ms DESC, source_kind, source_id",
                    &[&host_id],
                )
                .await
                .map_err(db("reading warnings"))?;
            rows.iter().map(|row| decode(host_id.as_bytes(), row.get(0))).collect()
        })
    }

    pub(crate) fn all_warnings(&self) -> Result<Vec<OutbreakWarning>, StoreError> {
        self.call(|client| async move {
            let rows = client
                .query(
                    "SELECT host_id, record FROM warnings ORDER BY first_seen_ms DESC, host_id, source_kind, source_id",
                    &[],
                )
                .await
                .map_err(db("listing warnings"))?;
            rows.iter().map(|row| decode(row.get::<_, &str>(0).as_bytes(), row.get(1))).collect()
        })
    }

    pub(crate) fn host_domains(&self, host_id: &str) -> Result<Option<HostDomains>, StoreError> {
        let host_id = host_id.to_string();
        self.call(move |client| async move {
            let row = client
                .query_opt("SELECT record FROM host_domains WHERE host_id = $1", &[&host_id])
                .await
                .map_err(db("reading host domains"))?;
            row.map(|row| decode(host_id.as_bytes(), row.get(0))).transpose()
        })
    }

    pub(crate) fn sending_of(&self, domain: &str) -> Result<Vec<SendingDomain>, StoreError> {
        let domain = domain.to_string();
        self.call(move |client| async move {
            let rows = client
                .query(
                    "SELECT domain, host_id, messages, first_seen_ms, last_seen_ms FROM sending
                      WHERE domain = $1 ORDER BY host_id",
                    &[&domain],
                )
                .await
                .map_err(db("reading sender domains"))?;
            Ok(rows.iter().map(sending_row).collect())
        })
    }

    /// Same aggregation as sled's `watched_domains`, from two ordered reads.
    pub(crate) fn watched_domains(
        &self,
        registrable: &dyn Fn(&str) -> String,
    ) -> Result<BTreeMap<String, WatchedDomain>, StoreError> {
        let (lists, sending) = self.call(|client| async move {
            let lists = client
                .query("SELECT host_id, record FROM host_domains ORDER BY host_id", &[])
                .await
                .map_err(db("listing host domains"))?;
            let lists: Vec<(String, HostDomains)> = lists
                .iter()
                .map(|row| {
                    let host: String = row.get(0);
                    decode(host.as_bytes(), row.get(1)).map(|list| (host, list))
                })
                .collect::<Result<_, StoreError>>()?;
            let sending = client
                .query(
                    "SELECT domain, host_id, messages, first_seen_ms, last_seen_ms FROM sending ORDER BY domain, host_id",
                    &[],
                )
                .await
                .map_err(db("listing sender domains"))?;
            Ok((lists, sending.iter().map(sending_row).collect::<Vec<_>>()))
        })?;
        let mut out: BTreeMap<String, WatchedDomain> = BTreeMap::new();
        for (host_id, list) in lists {
            for d in list.domains {
                out.entry(registrable(&d.name)).or_default().hosts.push(DomainHost {
                    host_id: host_id.clone(),
                    name: d.name,
                    unicode: d.unicode,
                    subscription: d.subscription,
                    mail: d.mail,
                });
            }
        }
        for row in sending {
            let watched = out.entry(registrable(&row.domain)).or_default();
            watched.messages = watched.messages.saturating_add(row.messages);
            if !watched.sending_hosts.contains(&row.host_id) {
                watched.sending_hosts.push(row.host_id);
            }
        }
        Ok(out)
    }

    /// PostgreSQL refuses writes itself when its disk is full; the
    /// controller has no data directory to watch.
    pub(crate) fn check_space(&self) -> Result<(), StoreError> {
        Ok(())
    }

    pub(crate) fn space_status(&self) -> Result<SpaceStatus, StoreError> {
        Err(StoreError::Unsupported(
            "free-space status is a sled store's: PostgreSQL refuses writes itself when its disk fills; watch the database server's disk with its own monitoring",
        ))
    }

    /// `pg_database_size` of the connected database.
    pub(crate) fn size_on_disk(&self) -> Result<u64, StoreError> {
        self.call(|client| async move {
            let row = client
                .query_one("SELECT pg_database_size(current_database())", &[])
                .await
                .map_err(db("measuring the database"))?;
            Ok(to_u64(row.get(0)))
        })
    }

    pub(crate) fn verify(&self) -> Result<VerifyReport, StoreError> {
        Err(StoreError::Unsupported(crate::store::facade::PG_VERIFY))
    }
}

fn sending_row(row: &tokio_postgres::Row) -> SendingDomain {
    SendingDomain {
        domain: row.get(0),
        host_id: row.get(1),
        messages: to_u64(row.get(2)),
        first_seen_ms: row.get(3),
        last_seen_ms: row.get(4),
    }
}
