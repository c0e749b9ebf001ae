//! Local persistence. Only this module knows sled.
//!
//! Also the small file naming the controller in use ([`in_use`]).

pub mod checkpoint;
pub mod in_use;
pub mod outbox;

pub use outbox::{Outbox, OutboxError};
