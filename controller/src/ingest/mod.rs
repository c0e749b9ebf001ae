//! What the controller does with an agent's report: validate → store →
//! cases → outbreak detector → recheck ([`Pipeline`]), and the counters of
//! what it took.
//!
//! `validate` is pure: it looks at a decoded report and the current time and
//! says what is wrong, naming the field. The pipeline calls it before anything
//! reaches the store, so a malformed report never touches stored data.

pub mod outbreak;
pub mod pipeline;
pub mod stats;
pub mod validate;

pub use pipeline::{Accepted, IngestError, Ingested, Pipeline};
pub use stats::{IngestStats, Refusal};
pub use validate::{Invalid, Limits, validate};

#[cfg(test)]
mod tests;
