//! Schema migrations, embedded in the binary and applied at start.
//!
//! `rblfleet_schema` holds one row per applied migration. At start, in one
//! transaction under an advisory lock (two controllers starting together
//! migrate once), the controller reads the highest version: higher than
//! the newest it knows means a newer rblfleet migrated this database, and
//! the store refuses to open rather than misread it; lower means the
//! missing migrations are applied in order.

use super::{Pg, db, in_transaction};
use crate::store::StoreError;

/// (version, what it does, SQL). Append only: a released migration never
/// changes.
const MIGRATIONS: &[(i32, &str, &str)] = &[
    (1, "initial schema", include_str!("migrations/0001_initial.sql")),
    (2, "NOC views for Grafana", include_str!("migrations/0002_views.sql")),
    (3, "forced rechecks across controllers", include_str!("migrations/0003_rechecks.sql")),
    (4, "claims on forced rechecks", include_str!("migrations/0004_recheck_claims.sql")),
];

/// The schema version this binary reads and writes.
pub(crate) const LATEST: i32 = 4;

/// Advisory lock key (an arbitrary constant: "rblf" in ASCII) held while
/// migrating.
const MIGRATION_LOCK: i64 = 0x7262_6c66;

pub(super) fn migrate(pg: &Pg) -> Result<(), StoreError> {
    pg.call(|client| async move {
        in_transaction(&client, async {
            client
                .execute("SELECT pg_advisory_xact_lock($1)", &[&MIGRATION_LOCK])
                .await
                .map_err(db("taking the migration lock"))?;
            client
                .batch_execute(
                    "CREATE TABLE IF NOT EXISTS rblfleet_schema (
                         version     integer     PRIMARY KEY,
                         description text        NOT NULL,
                         applied_at  timestamptz NOT NULL DEFAULT now()
                     )",
                )
                .await
                .map_err(db("creating rblfleet_schema"))?;
            let row = client
                .query_one("SELECT coalesce(max(version), 0) FROM rblfleet_schema", &[])
                .await
                .map_err(db("reading the schema version"))?;
            let found: i32 = row.get(0);
            if found > LATEST {
                return Err(StoreError::SchemaNewer { found, expected: LATEST });
            }
            for (version, description, sql) in MIGRATIONS.iter().filter(|(v, _, _)| *v > found) {
                client.batch_execute(sql).await.map_err(db("applying a schema migration"))?;
                client
                    .execute(
                        "INSERT INTO rblfleet_schema (version, description) VALUES ($1, $2)",
                        &[version, description],
                    )
                    .await
                    .map_err(db("recording a schema migration"))?;
                tracing::info!(version, description, "applied PostgreSQL schema migration");
            }
            Ok(())
        })
        .await
    })
}
