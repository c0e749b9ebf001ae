//! The collector contract: each group of families is gathered and written
//! by one collector, and a failing collector never fails the scrape.
//!
//! Modelled on node_exporter's `collector.go` `execute`: every collector is
//! timed and reports `rblfleet_scrape_collector_success` and
//! `rblfleet_scrape_collector_duration_seconds`; one that fails (or panics)
//! drops only its own families, and says why in the log once per failure
//! streak rather than on every scrape.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

use super::text::{Encoder, Kind};
use crate::store::StoreError;

/// Why a collector wrote nothing.
#[derive(Debug, thiserror::Error)]
pub enum CollectError {
    /// A store read failed. Shared because two collectors of one scrape
    /// may rely on the same read.
    #[error(transparent)]
    Store(Arc<StoreError>),
    /// The controller's certificate or CA file could not be read.
    #[error(transparent)]
    Certificate(#[from] crate::ca::expiry::ExpiryError),
    /// The collector panicked (a bug): the message of the panic.
    #[error("the collector panicked: {0}")]
    Panicked(String),
}

impl From<StoreError> for CollectError {
    fn from(error: StoreError) -> Self {
        CollectError::Store(Arc::new(error))
    }
}

type CollectFn<C> = Box<dyn Fn(&C, &mut Encoder) -> Result<(), CollectError> + Send + Sync>;

/// One named group of families, written from a scrape context `C`.
pub struct Collector<C> {
    name: &'static str,
    collect: CollectFn<C>,
    /// Whether the last run failed, so a failure streak is logged once.
    failing: AtomicBool,
}

impl<C> std::fmt::Debug for Collector<C> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Collector").field("name", &self.name).finish_non_exhaustive()
    }
}

impl<C> Collector<C> {
    /// `name` is the `collector` label value. `collect` writes its families
    /// into the encoder; what it wrote is discarded if it then fails.
    pub fn new(
        name: &'static str,
        collect: impl Fn(&C, &mut Encoder) -> Result<(), CollectError> + Send + Sync + 'static,
    ) -> Self {
        Collector { name, collect: Box::new(collect), failing: AtomicBool::new(false) }
    }

    pub fn name(&self) -> &'static str {
        self.name
    }

    /// Runs once: true when it succeeded (its families are in `e`).
    fn run(&self, context: &C, e: &mut Encoder) -> bool {
        let mark = e.len();
        // A panic leaves nothing shared half-written: the encoder is cut
        // back to `mark` and the context is only read.
        let result = catch_unwind(AssertUnwindSafe(|| (self.collect)(context, e)))
            .unwrap_or_else(|panic| Err(CollectError::Panicked(panic_message(panic.as_ref()))));
        match result {
            Ok(()) => {
                if self.failing.swap(false, Ordering::Relaxed) {
                    tracing::info!(collector = self.name, "metrics collector works again");
                }
                true
            }
            Err(error) => {
                e.truncate(mark);
                if !self.failing.swap(true, Ordering::Relaxed) {
                    tracing::warn!(
                        collector = self.name,
                        %error,
                        "metrics collector failed; its families are left out of /metrics until it works again"
                    );
                }
                false
            }
        }
    }
}

fn panic_message(panic: &(dyn std::any::Any + Send)) -> String {
    match (panic.downcast_ref::<&str>(), panic.downcast_ref::<String>()) {
        (Some(s), _) => (*s).to_string(),
        (_, Some(s)) => s.clone(),
        _ => "(no message)".into(),
    }
}

/// Runs every collector in order into `e`, then writes each one's success
/// and duration.
pub fn collect_all<C>(collectors: &[Collector<C>], context: &C, e: &mut Encoder) {
    let results: Vec<(&'static str, bool, f64)> = collectors
        .iter()
        .map(|c| {
            let started = Instant::now();
            let ok = c.run(context, e);
            (c.name, ok, started.elapsed().as_secs_f64())
        })
        .collect();
    let mut f = e.family(
        "rblfleet_scrape_collector_success",
        Kind::Gauge,
        "1 when the collector gathered its families for this scrape, 0 when it failed (its families are absent).",
    );
    for (name, ok, _) in &results {
        f.sample(&[("collector", name)], f64::from(u8::from(*ok)));
    }
    let mut f = e.family(
        "rblfleet_scrape_collector_duration_seconds",
        Kind::Gauge,
        "How long the collector took for this scrape.",
    );
    for (name, _, seconds) in &results {
        f.sample(&[("collector", name)], *seconds);
    }
}

#[cfg(test)]
mod tests;
