//! The rblfleet wire format: the messages generated from
//! `proto/rblfleet/v1/*.proto`, and the few rules both ends must share.
//!
//! # Layout
//! - [`v1`]: generated messages and services; nothing hand-written.
//! - [`contract`]: identity URI prefixes, the host-id rule, the retry-hint key.
//! - [`domain`]: what a domain name is on the wire (lowercase ASCII, punycode).
//! - [`action`]: signing and verifying containment actions.
//!
//! Validation of whole reports belongs to the controller's ingest,
//! construction to the agent.

pub mod action;
pub mod contract;
pub mod domain;

/// Version 1 of the protocol.
#[allow(missing_debug_implementations, clippy::unwrap_used)]
pub mod v1 {
    tonic::include_proto!("rblfleet.v1");
}
