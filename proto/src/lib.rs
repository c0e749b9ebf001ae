//! The rblfleet wire format, generated from `proto/rblfleet/v1/*.proto`.
//!
//! Nothing but generated code lives here; validation belongs to the
//! controller's ingest, construction to the agent.

#![allow(missing_debug_implementations, clippy::unwrap_used)]

/// Version 1 of the protocol.
pub mod v1 {
    tonic::include_proto!("rblfleet.v1");
}
