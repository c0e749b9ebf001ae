//! rblfleet-agent: reports a Plesk host's IPs, the domains it serves, its
//! outgoing queue and mail-log figures (delivery totals, blocklist refusals,
//! the sending sources ranked by suspicion, the envelope sender domains) to
//! the rblfleet controller; [`scan`] gives the same
//! figures offline for whole log files.
//!
//! A report is built on a fixed schedule ([`Agent::tick`]), written to a local
//! sled outbox, and removed only when the controller acknowledges it
//! ([`Agent::flush`]); [`Agent::run`] does both until shutdown. See
//! `deploy/agent.example.toml` for the configuration.
//!
//! # Layout
//!
//! In the order data flows, from the host to the controller:
//!
//! - [`config`]: the TOML file, every section with its defaults.
//! - [`identity`]: the host id, from the config or the client certificate.
//! - [`logs`]: log inputs (files across rotation, journald) read with
//!   checkpoints.
//! - [`parse`]: Postfix, qmail and MailEnable lines to events; no I/O.
//! - [`bounce`]: a remote server's reply classified (family, provider, zone,
//!   code, IP).
//! - [`attribution`]: a message's events joined and each delivery attributed
//!   to its senders; per-period totals, blocklist evidence groups and
//!   senders ranked by suspicion.
//! - [`collect`]: the collector contract and one collector per file: IPs,
//!   the queue per MTA, the mail log (logs → parse → attribution), the
//!   domains the host serves (Plesk, the MTA's maps, vhosts, a static list).
//! - [`command`]: external tools run with a deadline (queue tools, journalctl).
//! - [`store`]: sled: the outbox of reports and the log checkpoints.
//! - [`run`]: the agent loop: collect on schedule, spool, send, back off.
//! - [`client`]: the gRPC client to the controller, failing over between
//!   several (`controller.urls`); [`backoff`] its retry delays.
//! - [`scan`]: offline, whole files through parse and attribution to a summary.
//! - [`doctor`]: `rblfleet-agent doctor`, every dependency checked with its fix.
//! - [`windows`]: Windows hosts: MailEnable discovery, the data directory
//!   and the service's install logic.
//! - [`cli`]: the `rblfleet-agent` commands, one file each; `main.rs` only
//!   parses and dispatches.

pub mod actions;
pub mod attribution;
pub mod backoff;
pub use rblfleet_bounce as bounce;
pub mod cli;
pub mod client;
pub mod collect;
pub mod command;
pub mod config;
pub mod doctor;
pub mod identity;
pub mod logs;
pub mod parse;
pub mod run;
pub mod scan;
pub mod store;
pub mod windows;

pub use config::Config;
pub use run::{Agent, AgentError, FlushOutcome, RunOptions};
