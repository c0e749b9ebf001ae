//! rblfleet controller: ingest of agent reports, storage, and the `rblfleet` CLI.
//!
//! The binary (`src/main.rs`) is a thin shell over [`cli`]; everything else is
//! a library so the end-to-end tests drive the same code in-process.

pub mod alerts;
pub mod ca;
pub mod cases;
pub mod casework;
pub mod catalog;
pub mod cli;
pub mod client;
pub mod clock;
pub mod config;
pub mod correlate;
pub mod daemon;
pub mod dnsbl;
pub mod history;
pub mod identity;
pub mod ingest;
pub mod metrics;
pub mod receivers;
pub mod server;
pub mod store;
pub mod views;
