//! End-to-end tests: real controller, real agents, real mTLS, all on loopback.
//! One test binary with modules keeps link time down on small CI machines.

#![allow(clippy::unwrap_used)]

mod alerts;
mod backup;
mod cases;
mod cert_reload;
mod contain;
mod demo;
mod diskfull;
mod dns_garbage;
mod dnsbl;
mod doctor;
mod domains;
mod failover;
mod fleet;
mod hostile;
mod hostile_bytes;
mod identity;
mod metrics;
mod outage;
mod outbreak;
mod overload;
mod plain_output;
mod poison;
mod postgres;
mod several;
mod tls_errors;
mod trust;
