//! Soak and fault tests with the real binaries: `rblfleet serve` and
//! `rblfleet-agent run` as child processes, killed with SIGKILL while they
//! work. The default (short) form runs in CI; `RBLFLEET_SOAK=long` runs the
//! long form (tests/soak/README.md). Run them with `--nocapture` to see the
//! figures.

#![allow(clippy::unwrap_used)]

mod agent_kill;
mod controller_kill;
mod form;
mod maillog;
