//! The plumbing both binaries (`rblfleet`, `rblfleet-agent`) share, written
//! once and generic over each binary's `clap::Command`, so their man pages,
//! completion scripts, signals and logs behave alike.
//!
//! # Layout
//! - [`man`]: roff pages from a clap definition, one per command.
//! - [`completions`]: a shell's completion script from a clap definition.
//! - [`signal`]: the shutdown signal of a daemon (Ctrl-C or SIGTERM).
//! - [`term`]: logging to stderr (text, colour only on a terminal, or JSON),
//!   the terminal's width, and a closed stdout told apart from a real failure.
//! - [`connect_failure`]: a failed connection to the controller named for
//!   what it is (refused, DNS, timeout, which certificate, TLS mismatch).

pub mod completions;
pub mod connect_failure;
pub mod doctor;
pub mod file_stamp;
pub mod man;
pub mod signal;
pub mod term;
