//! DNS blocklist checks: the zone catalog (data), lookups, health and scheduling.
//!
//! The rules peers get wrong live here: three outcomes (listed, clean, error),
//! every A record decoded per zone, documented error codes and answers outside
//! 127.0.0.0/8 never shown as listings, keys never shown at all.

pub mod answer;
pub mod budget;
pub mod engine;
pub mod health;
pub mod lookup;
pub mod state;
pub mod zone_server;
