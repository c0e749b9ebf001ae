//! What the controller accepts from agents.
//!
//! `validate` is pure: it looks at a decoded report and the current time and
//! says what is wrong, naming the field. The server calls it before anything
//! reaches the store, so a malformed report never touches stored data.

pub mod stats;
pub mod validate;

pub use stats::{IngestStats, Refusal};
pub use validate::{Invalid, Limits, validate};

#[cfg(test)]
mod tests;
