//! rblfleet controller: ingest of agent reports, storage, and the `rblfleet` CLI.
//!
//! The binary (`src/main.rs`) is a thin shell over [`cli`]; everything else is
//! a library so the end-to-end tests drive the same code in-process.

pub mod alerts;
pub mod ca;
pub mod cases;
pub mod catalog;
pub mod cli;
pub mod client;
pub mod clock;
pub mod config;
pub mod correlate;
pub mod daemon;
pub mod dnsbl;
pub mod fleet;
pub mod identity;
pub mod ingest;
pub mod metrics;
pub mod server;
pub mod store;
pub mod text;
pub mod views;

