//! The rules serde cannot check: values that parse but cannot be used.
//!
//! Beyond the rules that span keys, every number and duration gets bounds:
//! a value that parses is not always one the daemon survives. A zero
//! interval makes a loop spin; a century-long timeout overflows the clock
//! arithmetic below it; a billion-slot queue is allocated up front. Each
//! message starts with the dotted key.

use std::time::Duration;

use super::Config;

/// The longest duration any key accepts: a century keeps every
/// `now + duration` inside the clocks' ranges.
const MAX_DURATION: Duration = Duration::from_secs(100 * 365 * 86_400);

use crate::dnsbl::lookup::{MAX_RETRIES, MAX_TIMEOUT as MAX_DNS_TIMEOUT};

fn duration_in(key: &str, value: Duration, min: Duration, max: Duration) -> Result<(), String> {
    let show = |d: Duration| humantime::format_duration(d).to_string();
    if value < min {
        let least =
            if min == Duration::from_millis(1) { "more than 0".to_string() } else { format!("at least {}", show(min)) };
        return Err(format!("{key} = \"{}\": must be {least}", show(value)));
    }
    if value > max {
        return Err(format!("{key} = \"{}\": must be at most {}", show(value), show(max)));
    }
    Ok(())
}

fn number_in(key: &str, value: u64, min: u64, max: u64) -> Result<(), String> {
    if (min..=max).contains(&value) { Ok(()) } else { Err(format!("{key} = {value}: must be from {min} to {max}")) }
}

fn size(value: usize) -> u64 {
    u64::try_from(value).unwrap_or(u64::MAX)
}

impl Config {
    /// Checks rules that span keys and the bounds of every value. `insecure`
    /// is the development mode: it changes the transport rules only.
    pub fn check(&self, insecure: bool) -> Result<(), String> {
        self.check_transport(insecure)?;
        self.check_values()
    }

    fn check_transport(&self, insecure: bool) -> Result<(), String> {
        if insecure {
            for (key, addr) in
                [("agent_api.listen", self.agent_api.listen), ("admin_api.listen", self.admin_api.listen)]
            {
                if !addr.ip().is_loopback() {
                    return Err(format!("{key} = {addr}: --insecure only listens on loopback (127.0.0.1 or ::1)"));
                }
            }
            return Ok(());
        }
        if !self.admin_api.listen.ip().is_loopback() && !self.admin_api.require_cert {
            return Err(format!(
                "admin_api.listen = {} is not loopback: set admin_api.require_cert = true so only holders of an admin certificate can use it",
                self.admin_api.listen
            ));
        }
        for (key, path) in [("tls.ca", &self.tls.ca), ("tls.cert", &self.tls.cert), ("tls.key", &self.tls.key)] {
            if path.as_os_str().is_empty() {
                return Err(format!(
                    "{key} is not set; agents authenticate with mutual TLS (create the files with `rblfleet ca init` and `rblfleet ca issue --controller NAME`)"
                ));
            }
        }
        Ok(())
    }

    fn check_values(&self) -> Result<(), String> {
        if self.data_dir.as_os_str().is_empty() {
            return Err("data_dir is empty: name the directory of the store".into());
        }
        let tick = Duration::from_millis(1);
        let (l, s, d, r, t, a) =
            (&self.limits, &self.store, &self.dnsbl, &self.receivers, &self.retention, &self.alerts);
        number_in("limits.max_report_bytes", size(l.max_report_bytes), 1024, 64 << 20)?;
        for (key, value) in [
            ("limits.max_clock_skew", l.max_clock_skew),
            ("limits.max_report_age", l.max_report_age),
            ("receivers.window", r.window),
            ("receivers.clear_after", r.clear_after),
            ("receivers.fallback_clear_after", r.fallback_clear_after),
            ("retention.raw", t.raw),
            ("retention.rollups", t.rollups),
            ("alerts.window", a.window),
            ("alerts.thresholds.case_waiting", a.thresholds.case_waiting),
            ("alerts.retry.initial", a.retry.initial),
            ("alerts.retry.max", a.retry.max),
        ] {
            duration_in(key, value, Duration::ZERO, MAX_DURATION)?;
        }
        // Loops sleep for these, and the engine waits on them: never zero.
        for (key, value) in [
            ("limits.overload_retry_after", l.overload_retry_after),
            ("retention.prune_every", t.prune_every),
            ("dnsbl.clean_interval", d.clean_interval),
            ("dnsbl.listed_interval", d.listed_interval),
            ("dnsbl.error_retry_min", d.error_retry_min),
            ("dnsbl.error_retry_max", d.error_retry_max),
            ("dnsbl.probe_interval", d.probe_interval),
            ("alerts.poll_interval", a.poll_interval),
            ("alerts.retry.timeout", a.retry.timeout),
            ("tls.reload_interval", self.tls.reload_interval),
        ] {
            duration_in(key, value, tick, MAX_DURATION)?;
        }
        duration_in("dnsbl.timeout", d.timeout, tick, MAX_DNS_TIMEOUT)?;
        if d.error_retry_max < d.error_retry_min {
            return Err(format!(
                "dnsbl.error_retry_max = \"{}\": smaller than dnsbl.error_retry_min (\"{}\")",
                humantime::format_duration(d.error_retry_max),
                humantime::format_duration(d.error_retry_min)
            ));
        }
        // The writer's queue is allocated whole; the page cache is a size in bytes.
        number_in("store.cache_mib", s.cache_mib, 1, 1 << 20)?;
        number_in("store.min_free_mib", s.min_free_mib, 0, 1 << 30)?;
        number_in("store.max_pending_reports", size(s.max_pending_reports), 1, 1_000_000)?;
        s.check_backend()?;
        d.nameserver_addrs()?;
        number_in("dnsbl.retries", size(d.retries), 0, size(MAX_RETRIES))?;
        number_in("dnsbl.concurrency", size(d.concurrency), 1, 10_000)?;
        number_in("dnsbl.clear_after", u64::from(d.clear_after), 1, 1000)?;
        number_in("alerts.queue_size", size(a.queue_size), 1, 100_000)?;
        number_in("alerts.retry.attempts", u64::from(a.retry.attempts), 1, 100)?;
        a.check()
    }
}
