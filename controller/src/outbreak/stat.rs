//! The two bounded memories every subject keeps: a baseline per metric
//! ([`Stat`], learned from closed hours) and the last half hour in
//! five-minute buckets ([`Window`], what "now" means).

use serde::{Deserialize, Serialize};

pub(crate) const HOUR_MS: i64 = 3_600_000;
/// One bucket of the recent window. Five minutes: five agent reports at the
/// default 60 s interval, so one late or missing report moves a bucket by a
/// fifth, not by all of it.
pub(crate) const BUCKET_MS: i64 = 300_000;
/// Buckets in the window: the last 30 minutes. Long enough that a spam run
/// ramping up over ten minutes shows a clear ratio, short enough to warn well
/// before a DNSBL's typical hours-long trap-hit accrual.
pub(crate) const BUCKETS: usize = 6;

/// EWMA weight per hour once warmed up: a time constant of three days, so a
/// weekend's quiet hours pull a weekday baseline down by at most about half,
/// well inside the 10x a volume signal needs.
const ALPHA: f32 = 1.0 / 72.0;
/// Per-hour decay of [`Stat::peak`]: a half-life of about 14 days, so the
/// busiest clean hour of the last weeks (a Monday morning, last month's
/// newsletter at a quarter) is still remembered.
const PEAK_DECAY: f32 = 0.998;
/// A robust baseline of one hourly value.
///
/// `level` is an EWMA of the hourly values, each clipped to `level + 4 x
/// spread` first, so a one-off spike moves it by a few
/// percent instead of dragging it up for days; `spread` is the EWMA of the
/// absolute deviation (a MAD-like spread that needs no history). `peak` is the
/// largest clean hour, decaying: what this subject has done legitimately.
/// Fixed size (13 bytes of state), whatever the history.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Stat {
    /// The usual hourly value.
    pub level: f32,
    /// The usual absolute deviation from `level`.
    pub spread: f32,
    /// The largest clean hourly value seen, decaying with a 14-day half-life.
    pub peak: f32,
    /// Hours learned (saturating); 0 for a baseline that is only a prior.
    pub hours: u16,
}

impl Stat {
    /// A prior: what a subject with no history is assumed to do.
    pub fn prior(level: f32, spread: f32) -> Self {
        Stat { level, spread, peak: level, hours: 0 }
    }

    /// Learns one closed hour. `clean` says the hour had no warning and a
    /// normal bounce ratio: only clean hours may raise the peak above the
    /// clipped value, so an undetected outbreak cannot teach its own volume.
    pub fn update(&mut self, x: f32, clean: bool) {
        self.update_floor(x, clean, 1.0);
    }

    /// Learns one hour's level and spread; the peak only decays. For a
    /// subject whose peak is raised by confirmation instead (see
    /// [`super::source::Held`]): even a clipped value would let an outbreak
    /// raise it, as the clip of a count near 1 is 5.
    pub fn update_level(&mut self, x: f32) {
        let peak = self.peak * PEAK_DECAY;
        self.update_floor(x, false, 1.0);
        self.peak = peak;
    }

    /// [`Stat::update`] for a ratio (0..1): the spread's floor is one
    /// percentage point instead of one message, so a new source's first
    /// hour at 60% bounces is clipped to about 15% instead of learned.
    pub fn update_ratio(&mut self, x: f32, clean: bool) {
        self.update_floor(x, clean, 0.01);
    }

    fn update_floor(&mut self, x: f32, clean: bool, floor: f32) {
        let x = if x.is_finite() { x.max(0.0) } else { 0.0 };
        // Fast warm-up: the prior weighs like one hour, then 1/n until ALPHA.
        let alpha = (1.0 / (f32::from(self.hours) + 2.0)).max(ALPHA);
        // Clipped from the first hour on, against the prior's spread: a new
        // source's first hour may be the start of an outbreak, and must not
        // teach it. A legitimate new sender is learned within a few hours
        // all the same, as the spread grows with every hour above the level.
        let y = x.min(self.level + 4.0 * self.spread.max(self.level * 0.25).max(floor));
        self.spread += alpha * ((y - self.level).abs() - self.spread);
        self.level += alpha * (y - self.level);
        self.peak = (self.peak * PEAK_DECAY).max(if clean { x } else { y });
        self.hours = self.hours.saturating_add(1);
    }

    /// Learns `hours` hours of zero at once (a subject that sent nothing), in
    /// closed form so a source silent for a month costs one call.
    pub fn idle(&mut self, hours: u32) {
        let k = hours.min(24 * 60) as i32;
        let keep = (1.0 - ALPHA).powi(k);
        self.level *= keep;
        self.spread *= keep;
        self.peak *= PEAK_DECAY.powi(k);
        self.hours = self.hours.saturating_add(u16::try_from(k).unwrap_or(u16::MAX));
    }
}

/// Counts of one bucket, one hour or one window. Sums, except the fields
/// marked "max": the agent reports those as distinct counts per report
/// interval, which cannot be added up (the same IP in two reports is one IP).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Counts {
    /// Reports that fell in this bucket.
    pub reports: u32,
    /// Messages sent (the source's `messages`; the host's delivery attempts).
    pub messages: u32,
    /// Delivery attempts: sent + deferred + bounced.
    pub attempts: u32,
    pub bounced: u32,
    pub deferred: u32,
    /// Refusals because the IP is listed (permanent, family "ip").
    pub blocklisted: u32,
    /// Temporary refusals for the IP's reputation (family "ip", 4xx):
    /// Yahoo TSS04, Gmail 4.7.28, Microsoft 4.7.650... Host only.
    pub reputation: u32,
    /// Max: recipient domains in one report.
    pub domains: u32,
    /// Max: distinct SASL client IPs in one report.
    pub client_ips: u32,
    /// Queue size: the first and the last of the bucket, and the largest.
    pub queue_first: u32,
    pub queue_last: u32,
    pub queue_max: u32,
}

impl Counts {
    /// Adds `other` (a later report or bucket) to `self`.
    pub fn add(&mut self, other: &Counts) {
        if self.reports == 0 {
            self.queue_first = other.queue_first;
        }
        self.reports += other.reports;
        self.messages = self.messages.saturating_add(other.messages);
        self.attempts = self.attempts.saturating_add(other.attempts);
        self.bounced = self.bounced.saturating_add(other.bounced);
        self.deferred = self.deferred.saturating_add(other.deferred);
        self.blocklisted = self.blocklisted.saturating_add(other.blocklisted);
        self.reputation = self.reputation.saturating_add(other.reputation);
        self.domains = self.domains.max(other.domains);
        self.client_ips = self.client_ips.max(other.client_ips);
        if other.reports > 0 {
            self.queue_last = other.queue_last;
        }
        self.queue_max = self.queue_max.max(other.queue_max);
    }

    /// bounced / attempts, 0 when there were none.
    pub fn bounce_ratio(&self) -> f32 {
        ratio(self.bounced, self.attempts)
    }

    /// deferred / attempts, 0 when there were none.
    pub fn deferral_ratio(&self) -> f32 {
        ratio(self.deferred, self.attempts)
    }
}

fn ratio(part: u32, whole: u32) -> f32 {
    if whole == 0 { 0.0 } else { part as f32 / whole as f32 }
}

/// Saturating u64 → u32 for counts from a report (an agent's u64 never
/// overflows the detector's arithmetic).
pub(crate) fn clamp32(x: u64) -> u32 {
    u32::try_from(x).unwrap_or(u32::MAX)
}

/// The last [`BUCKETS`] five-minute buckets, as a ring indexed by bucket
/// number. Reports are expected in time order; a late report within the
/// window is added to its bucket, an older one is dropped.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Window {
    buckets: [Counts; BUCKETS],
    /// Bucket number (ms / BUCKET_MS) of the newest bucket; 0 before any.
    head: i64,
}

impl Window {
    /// Moves the window so that it ends with the bucket of `ms` (buckets that
    /// had no report become zero).
    pub fn advance(&mut self, ms: i64) {
        let to = ms.div_euclid(BUCKET_MS);
        if self.head == 0 || to - self.head >= BUCKETS as i64 {
            self.buckets = Default::default();
            self.head = to;
            return;
        }
        while self.head < to {
            self.head += 1;
            self.buckets[slot(self.head)] = Counts::default();
        }
    }

    /// Adds a report's counts at `ms`; false when `ms` is older than the window.
    pub fn add(&mut self, ms: i64, counts: &Counts) -> bool {
        self.advance(ms);
        let n = ms.div_euclid(BUCKET_MS);
        if self.head - n >= BUCKETS as i64 {
            return false;
        }
        self.buckets[slot(n)].add(counts);
        true
    }

    /// The whole window, oldest bucket first.
    pub fn total(&self) -> Counts {
        let mut total = Counts::default();
        for n in (self.head - BUCKETS as i64 + 1)..=self.head {
            total.add(&self.buckets[slot(n)]);
        }
        total
    }
}

fn slot(n: i64) -> usize {
    n.rem_euclid(BUCKETS as i64) as usize
}
