//! What the admin API shows: the fleet report, the host and IP drill-downs
//! and case lists, computed from the store, the catalog and the engine.
//! Transport-free (the server wraps these) and rendering-free (the CLI
//! renders them).

mod cases;
mod domain;
mod host;
mod ip;
mod listings;
mod report;
mod suspects;
mod warnings;
mod watched;

pub use cases::{case_view, list_cases};
pub use domain::{domain_suspects, domain_view};
pub use host::host_view;
pub use ip::ip_view;
pub use listings::current_listings;
pub use report::fleet_report;
pub use suspects::{ListingsRollups, suspects};
pub use warnings::{at_risk, baselines, host_warnings, link_cases, warning_before, warning_for};
pub use watched::Watched;

use crate::catalog::Catalog;
use crate::dnsbl::engine::Engine;
use crate::store::Store;

/// Everything a view reads.
#[derive(Debug, Clone, Copy)]
pub struct Context<'a> {
    pub store: &'a Store,
    pub catalog: &'a Catalog,
    pub engine: Option<&'a Engine>,
    pub now_ms: i64,
}
