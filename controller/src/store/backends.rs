//! One suite, two backends: the store's tests run on sled always and on
//! PostgreSQL when a throwaway cluster can be started (`pg::cluster`;
//! otherwise the test prints a WARNING naming itself and runs on sled
//! only).

use super::{Store, StoreOptions, TestDb};

/// Where one run of a test keeps its data.
#[derive(Debug)]
pub(crate) enum Backing {
    Sled(tempfile::TempDir),
    Postgres(TestDb),
}

impl Backing {
    pub(crate) fn name(&self) -> &'static str {
        match self {
            Backing::Sled(_) => "sled",
            Backing::Postgres(_) => "postgres",
        }
    }

    /// Opens the store (again: the data stays until the `Backing` drops).
    pub(crate) fn open(&self) -> Store {
        self.open_with(&StoreOptions { cache_bytes: 1 << 20, ..StoreOptions::default() })
    }

    #[allow(clippy::unwrap_used)]
    pub(crate) fn open_with(&self, options: &StoreOptions) -> Store {
        // Shown with the failure (test output is captured otherwise).
        eprintln!("backend: {}", self.name());
        match self {
            Backing::Sled(dir) => Store::open(dir.path(), options).unwrap(),
            Backing::Postgres(db) => Store::open_postgres(&db.options(), options).unwrap(),
        }
    }
}

/// sled, and PostgreSQL unless it is unavailable (then `test` is named in
/// the printed WARNING).
#[allow(clippy::unwrap_used)]
pub(crate) fn backends(test: &str) -> Vec<Backing> {
    let mut out = vec![Backing::Sled(tempfile::tempdir().unwrap())];
    if let Some(db) = TestDb::create_or_skip(&format!("{test} on PostgreSQL")) {
        out.push(Backing::Postgres(db));
    }
    out
}
