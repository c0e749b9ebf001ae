//! rblfleet controller: ingest of agent reports, storage, and the `rblfleet` CLI.
//!
//! The binary (`src/main.rs`) is a thin shell over [`cli`]; everything else is
//! a library so the end-to-end tests drive the same code in-process.
//!
//! # Layout
//!
//! In the order a report flows through the controller:
//!
//! - [`server`]: the two gRPC listeners, transport only (identity, decode, status).
//! - [`identity`], [`ca`]: who a certificate speaks for; the fleet's private CA.
//! - [`ingest`]: one report's pipeline: validate → store → cases → recheck.
//! - [`store`]: durable state in sled or PostgreSQL (the only module that knows either), hourly roll-ups.
//! - [`cases`]: delisting cases and receiver-side listings, decided purely, applied to the store.
//! - [`fleet`]: the IPs the hosts' reports say to watch.
//! - [`catalog`]: the lists of both kinds: DNS zones and receivers, as data.
//! - [`dnsbl`]: DNS blocklist lookups, zone health and the checking engine.
//! - [`correlate`]: which source on a host most likely caused a listing.
//! - [`outbreak`]: early warning: a source or host about to get its IP listed.
//! - [`views`]: what the admin API shows, from store, catalog and engine.
//! - [`alerts`]: webhooks and e-mail when the fleet changes.
//! - [`metrics`]: `/metrics` for Prometheus, one collector per family group.
//! - [`daemon`]: store, engine, servers, alerts and metrics started and stopped together.
//! - [`config`]: the configuration file.
//! - [`doctor`]: `rblfleet doctor`, every dependency checked with its fix.
//! - [`cli`], [`client`]: the `rblfleet` commands and their admin API client.
//! - [`clock`], [`text`]: Unix milliseconds; outside text made printable.

pub mod alerts;
pub mod ca;
pub mod cases;
pub mod catalog;
pub mod cli;
pub mod client;
pub mod clock;
pub mod config;
pub mod contain;
pub mod correlate;
pub mod daemon;
pub mod dnsbl;
pub mod doctor;
pub mod fleet;
pub mod identity;
pub mod ingest;
pub mod metrics;
pub mod outbreak;
pub mod roles;
pub mod server;
pub mod store;
pub mod text;
pub mod views;
