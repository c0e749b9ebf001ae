//! `[store]`: which backend holds the data, and how to reach PostgreSQL.
//!
//! The password never sits in the configuration file or the URL (both end
//! up in backups, tickets and `ps`): it is read from `password_file` when
//! set, else from the environment variable `RBLFLEET_PG_PASSWORD`, at the
//! moment the store opens, and kept in a type whose `Debug` hides it.
//!
//! `controllers` says whether this controller shares its database with
//! others ([`Controllers`]).

use std::path::Path;

use serde::Deserialize;

use super::StoreConfig;
use crate::store::{PgOptions, PgPassword, Share, Store, StoreError};

/// The environment variable read for the password when no file is set.
pub const PASSWORD_ENV: &str = "RBLFLEET_PG_PASSWORD";

/// Where the store keeps its data.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum StoreBackend {
    /// Embedded, in `data_dir`: nothing to install.
    #[default]
    Sled,
    /// A PostgreSQL database shared by controllers.
    Postgres,
}

/// How many controllers serve one store (`[store] controllers`).
///
/// - `single`: this controller is the only one. On PostgreSQL it holds the
///   database's serving lock exclusively, so a second controller (of
///   either kind) is refused at start, naming this one; it runs the
///   blocklist engine, alerts and retention itself.
/// - `several`: controllers share the database, for failover. Each holds
///   the serving lock *shared*: any number of `several` controllers serve
///   together, while a `single` controller and `rblfleet migrate --to`
///   (which both need the database to themselves) are refused as long as
///   one of them serves. Every one accepts agent reports and answers the
///   CLI; the database elects, per role, the one that runs the engine,
///   the alerts and retention (`store::leadership`, `roles`), and another
///   takes a role over within seconds when its leader dies.
///
/// sled is one process's directory: `several` needs `backend = "postgres"`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Controllers {
    #[default]
    Single,
    Several,
}

impl Controllers {
    /// How the database's serving lock is held in this mode.
    pub fn share(self) -> Share {
        match self {
            Controllers::Single => Share::Exclusive,
            Controllers::Several => Share::Shared,
        }
    }
}

impl StoreConfig {
    /// Checks `[store]`'s PostgreSQL keys: a usable URL without a
    /// password, a sane pool; and that `controllers = "several"` has a
    /// database to share.
    pub fn check_backend(&self) -> Result<(), String> {
        if self.backend == StoreBackend::Sled {
            if self.controllers == Controllers::Several {
                return Err("store.controllers = \"several\": needs backend = \"postgres\"; a sled store is a \
                            directory only one controller process can open, so it cannot be shared (use \
                            controllers = \"single\", or move to PostgreSQL with `rblfleet migrate`)"
                    .into());
            }
            return Ok(());
        }
        self.postgres_shape().map(drop)
    }

    /// The keys' own rules, without reading the password.
    fn postgres_shape(&self) -> Result<PgOptions, String> {
        let Some(url) = self.url.clone().filter(|u| !u.trim().is_empty()) else {
            return Err("store.url: backend = \"postgres\" needs the database's connection string".into());
        };
        if !(1..=1000).contains(&self.pool_size) {
            return Err(format!("store.pool_size = {}: must be from 1 to 1000", self.pool_size));
        }
        let options = PgOptions { url, pool_size: self.pool_size, password: None };
        options
            .driver_config()
            .map_err(|e| format!("store.url: {}", e.to_string().trim_start_matches("PostgreSQL: ")))?;
        Ok(options)
    }

    /// The PostgreSQL options with the password read from `password_file`
    /// or `RBLFLEET_PG_PASSWORD` (none: the server must not want one, e.g.
    /// peer or certificate authentication).
    pub fn postgres(&self) -> Result<PgOptions, String> {
        let mut options = self.postgres_shape()?;
        options.password = match &self.password_file {
            Some(path) => Some(read_password(path)?),
            None => std::env::var(PASSWORD_ENV).ok().filter(|p| !p.is_empty()).map(PgPassword),
        };
        Ok(options)
    }

    /// Opens the configured store: sled in `data_dir`, or PostgreSQL.
    pub fn open(&self, data_dir: &Path) -> Result<Store, StoreError> {
        match self.backend {
            StoreBackend::Sled => Store::open(data_dir, &self.options()),
            StoreBackend::Postgres => {
                let options = self.postgres().map_err(StoreError::Postgres)?;
                Store::open_postgres(&options, &self.options())
            }
        }
    }
}

/// The first line of `path`, without its line ending.
fn read_password(path: &Path) -> Result<PgPassword, String> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("store.password_file: cannot read {}: {e}", path.display()))?;
    let password = text.lines().next().unwrap_or_default().to_string();
    if password.is_empty() {
        return Err(format!("store.password_file: {} is empty", path.display()));
    }
    Ok(PgPassword(password))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;
    use crate::config::Config;

    fn parse(toml: &str) -> Config {
        Config::from_toml_str(toml).unwrap()
    }

    #[test]
    fn sled_stays_the_default_and_postgres_is_accepted() {
        assert_eq!(Config::default().store.backend, StoreBackend::Sled);
        let config = parse("[store]\nbackend = \"postgres\"\nurl = \"postgresql://rblfleet@127.0.0.1/rblfleet\"\n");
        config.store.check_backend().unwrap();
        assert_eq!(config.store.postgres().unwrap().url, "postgresql://rblfleet@127.0.0.1/rblfleet");
    }

    #[test]
    fn several_controllers_need_postgres() {
        assert_eq!(Config::default().store.controllers, Controllers::Single);
        let sled = parse("[store]\ncontrollers = \"several\"\n").store.check_backend().unwrap_err();
        assert!(sled.starts_with("store.controllers = \"several\": needs backend = \"postgres\""), "{sled}");
        let pg = parse("[store]\nbackend = \"postgres\"\nurl = \"postgresql://u@db/x\"\ncontrollers = \"several\"\n");
        pg.store.check_backend().unwrap();
        assert_eq!(pg.store.controllers.share(), Share::Shared);
        assert_eq!(Controllers::Single.share(), Share::Exclusive);
        assert!(Config::from_toml_str("[store]\ncontrollers = \"many\"\n").is_err());
    }

    #[test]
    fn postgres_keys_are_checked() {
        let missing = parse("[store]\nbackend = \"postgres\"\n").store.check_backend().unwrap_err();
        assert!(missing.starts_with("store.url:"), "{missing}");
        let inline = parse("[store]\nbackend = \"postgres\"\nurl = \"postgresql://u:hunter2@db/x\"\n");
        let err = inline.store.check_backend().unwrap_err();
        assert!(err.contains("password_file") && !err.contains("hunter2"), "{err}");
        let pool = parse("[store]\nbackend = \"postgres\"\nurl = \"postgresql://u@db/x\"\npool_size = 0\n");
        assert!(pool.store.check_backend().unwrap_err().starts_with("store.pool_size = 0"));
        assert!(Config::from_toml_str("[store]\nbackend = \"mysql\"\n").is_err());
    }

    #[test]
    fn the_password_comes_from_its_file_and_never_prints() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("pg-password");
        std::fs::write(&file, "hunter2\n").unwrap();
        let toml = format!(
            "[store]\nbackend = \"postgres\"\nurl = \"postgresql://u@db/x\"\npassword_file = \"{}\"\n",
            file.display()
        );
        let config = parse(&toml);
        let options = config.store.postgres().unwrap();
        assert_eq!(options.password, Some(PgPassword("hunter2".into())));
        for shown in [format!("{options:?}"), format!("{config:?}")] {
            assert!(!shown.contains("hunter2"), "{shown}");
        }
        std::fs::write(&file, "").unwrap();
        assert!(config.store.postgres().unwrap_err().contains("is empty"));
    }
}
