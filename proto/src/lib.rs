//! The rblfleet wire format: the messages generated from
//! `proto/rblfleet/v1/*.proto`, and the few rules both ends must share.
//!
//! # Layout
//! - [`v1`]: generated messages and services; nothing hand-written.
//! - [`contract`]: identity URI prefixes, the host-id rule, the retry-hint key.
//!
//! Validation of whole reports belongs to the controller's ingest,
//! construction to the agent.

pub mod contract;

/// Version 1 of the protocol.
#[allow(missing_debug_implementations, clippy::unwrap_used)]
pub mod v1 {
    tonic::include_proto!("rblfleet.v1");
}
