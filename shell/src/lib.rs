//! The plumbing both binaries (`rblfleet`, `rblfleet-agent`) share, written
//! once and generic over each binary's `clap::Command`, so their man pages,
//! completion scripts, signals and logs behave alike.
//!
//! # Layout
//! - [`man`]: roff pages from a clap definition, one per command.
//! - [`completions`]: a shell's completion script from a clap definition.
//! - [`signal`]: the shutdown signal of a daemon (Ctrl-C or SIGTERM).
//! - [`term`]: logging to stderr (colour only on a terminal) and a closed
//!   stdout told apart from a real failure.

pub mod completions;
pub mod man;
pub mod signal;
pub mod term;
