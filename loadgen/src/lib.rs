//! rblfleet-loadgen: simulated agents for measuring one controller.
//!
//! Each simulated agent has its own certificate ([`pki`]) and its own mTLS
//! connection, sends realistic reports from [`rblfleet_tests::generate`] on an
//! open-loop [`schedule`], and behaves like the real agent when refused
//! ([`agent`]). [`run`] drives a whole fleet and sums up ([`stats`], with the
//! controller's memory and disk from [`sample`]); [`spawn`] starts a
//! controller process to measure; [`render`] prints the results. The binary
//! (`src/main.rs`) only wires these together.

pub mod agent;
pub mod args;
pub mod fdlimit;
pub mod pki;
pub mod render;
pub mod run;
pub mod sample;
pub mod schedule;
pub mod spawn;
pub mod stats;

pub use run::{LoadConfig, RunError, Summary, run};
pub use schedule::Load;
