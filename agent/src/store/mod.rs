//! Local persistence. Only this module knows sled.

pub mod checkpoint;
pub mod outbox;

pub use outbox::{Outbox, OutboxError};
