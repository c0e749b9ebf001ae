//! rblfleet-agent: reports a Plesk host's IPs, outgoing queue and mail-log
//! evidence (delivery totals, blocklist refusals, the sending sources ranked
//! by suspicion) to the rblfleet controller; [`scan`] gives the same
//! evidence offline for whole log files.
//!
//! A report is built on a fixed schedule ([`Agent::tick`]), written to a local
//! sled outbox, and removed only when the controller acknowledges it
//! ([`Agent::flush`]); [`Agent::run`] does both until shutdown. See
//! `deploy/agent.example.toml` for the configuration.

pub mod backoff;
pub mod bounce;
pub mod cli;
pub mod client;
pub mod collect;
pub mod command;
pub mod config;
pub mod identity;
pub mod logs;
pub mod parse;
pub mod run;
pub mod scan;
pub mod attribution;
pub mod store;

pub use config::Config;
pub use run::{Agent, AgentError, FlushOutcome, RunOptions};
