//! The simulated fleet of the outbreak replay: hosts with a daily and weekly
//! rhythm, legitimate bursts, outbreaks at known times and a DNSBL that lists
//! an IP once its spam has hit enough spam traps.
//!
//! The parameters were written down from what outbreaks and bulk mail look
//! like before the detector was tuned (see the ranges below); every draw is
//! log-uniform or uniform over a wide range, so the detector meets small,
//! slow outbreaks as well as loud ones.

use rblfleet_proto::v1::SourceKind;

use crate::rng::Rng;

pub const MINUTE_MS: i64 = 60_000;
pub const HOUR_MS: i64 = 3_600_000;
pub const DAY_MS: i64 = 86_400_000;
/// Monday 2 November 2026, 00:00 UTC: the run starts on a Monday so the
/// weekends fall where a fleet's do.
pub const START_MS: i64 = 1_793_577_600_000;
/// Spam-trap hits before the simulated DNSBL lists the IP (a Spamhaus-like
/// list acts on a few hits of a pristine trap).
pub const TRAP_THRESHOLD: u32 = 3;
/// Sources per report, as the agent's top-K.
pub(crate) const TOP_K: usize = 20;

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Kind {
    /// A mailbox whose password was stolen: logins from a botnet or a VPS.
    Hijack,
    /// A PHP mailer dropped on a site: a new script sending thousands.
    PhpMailer,
    /// Backscatter (DSNs to forged senders) or a forward of spam to Gmail.
    Forwarding,
}

impl Kind {
    pub fn name(self) -> &'static str {
        match self {
            Kind::Hijack => "hijacked mailbox",
            Kind::PhpMailer => "PHP mailer",
            Kind::Forwarding => "forwarding/backscatter",
        }
    }
}

#[derive(Clone, Copy, Debug)]
pub(crate) enum Rhythm {
    /// Office mailboxes: busy weekdays 8-18, little at night and weekends.
    Office,
    /// A shop's scripts: daytime every day, a little at night.
    Shop,
    /// Cron jobs: the same all week.
    Flat,
}

pub(crate) fn rhythm(r: Rhythm, ms: i64) -> f64 {
    let t = ms - START_MS;
    let weekend = t.div_euclid(DAY_MS).rem_euclid(7) >= 5;
    let hour = t.rem_euclid(DAY_MS) / HOUR_MS;
    match r {
        Rhythm::Office => match (weekend, hour) {
            (false, 8..=17) => 2.2,
            (false, 7 | 18..=20) => 1.0,
            (false, _) => 0.1,
            (true, 9..=20) => 0.4,
            (true, _) => 0.08,
        },
        Rhythm::Shop => {
            let day = if (8..=22).contains(&hour) { 1.4 } else { 0.4 };
            if weekend { day * 1.1 } else { day }
        }
        Rhythm::Flat => 1.0,
    }
}

#[derive(Debug)]
pub(crate) struct Source {
    pub(crate) kind: SourceKind,
    pub(crate) id: String,
    pub(crate) sub: String,
    /// Mean messages per hour (before the rhythm).
    pub(crate) rate: f64,
    pub(crate) rhythm: Rhythm,
    /// Recipient domains the source usually writes to.
    pub(crate) pool: f64,
    pub(crate) bounce: f64,
    pub(crate) defer: f64,
}

/// A legitimate burst on one source.
#[derive(Debug)]
pub struct Episode {
    pub what: &'static str,
    pub(crate) source: usize,
    pub start: i64,
    pub end: i64,
    /// Extra messages per hour.
    pub(crate) per_hour: f64,
    /// Multiplier of the source's own rate (the holiday campaign).
    pub(crate) factor: f64,
    pub(crate) bounce: f64,
    pub(crate) defer: f64,
    /// Reputation-style deferrals per message ("unexpected volume").
    pub(crate) rep: f64,
    /// Distinct recipient domains the burst draws from.
    pub(crate) universe: f64,
}

/// One outbreak and its fate.
#[derive(Debug)]
pub struct Outbreak {
    pub kind: Kind,
    pub start_ms: i64,
    pub(crate) stop_ms: i64,
    pub(crate) peak: f64,
    pub(crate) ramp_ms: i64,
    pub(crate) bounce: f64,
    pub(crate) defer: f64,
    /// Botnet client IPs per minute (hijack); 0 for a single VPS.
    pub(crate) ips: f64,
    /// Probability that one spam message reaches a spam trap.
    pub(crate) trap_p: f64,
    pub(crate) delay_ms: i64,
    /// Spam volume (EW, 2 h) at which receivers defer 40% for reputation.
    pub(crate) rep_scale: f64,
    /// The source sending it; `None`: many forged senders (forwarded spam).
    pub(crate) source: Option<usize>,
    pub(crate) trap_hits: u32,
    pub(crate) due_ms: Option<i64>,
    pub listed_ms: Option<i64>,
}

#[derive(Debug)]
pub struct Host {
    pub id: String,
    pub(crate) ip: String,
    pub(crate) rng: Rng,
    pub(crate) sources: Vec<Source>,
    pub episodes: Vec<Episode>,
    pub outbreak: Option<Outbreak>,
    pub(crate) backlog: f64,
    pub(crate) base_q: f64,
    pub(crate) pressure: f64,
    pub(crate) seq: u64,
    /// Legitimate traffic that looks like a slow forward of spam (clean
    /// hosts, see [`crate::lookalike`]) and its own random stream.
    pub lookalikes: Vec<crate::lookalike::Lookalike>,
    pub(crate) lrng: Rng,
}

#[derive(Default)]
pub(crate) struct Draw {
    pub(crate) bounced: u64,
    pub(crate) deferred: u64,
    pub(crate) rep: u64,
}

pub(crate) fn draw(rng: &mut Rng, m: u64, pb: f64, pd: f64, prep: f64) -> Draw {
    let bounced = rng.binomial(m, pb);
    let rep = rng.binomial(m - bounced, prep);
    let deferred = rep + rng.binomial(m - bounced - rep, pd);
    Draw { bounced, deferred, rep }
}

/// Distinct domains among `k` messages: 60% go to the ten big mailbox
/// providers, the rest spread over `universe` domains.
pub(crate) fn distinct(k: f64, universe: f64) -> f64 {
    10.0 * (1.0 - (-0.6 * k / 10.0).exp()) + universe * (1.0 - (-0.4 * k / universe).exp())
}

impl Host {
    /// A host of the fleet; `kind` adds an outbreak starting between day 3
    /// (or mid-run for short runs) and a day before the end.
    pub fn new(n: usize, rng: &mut Rng, days: u32, kind: Option<Kind>) -> Host {
        let mut r = rng.fork(n as u64);
        let mut sources = Vec::new();
        let mailboxes = r.log_range(4.0, 60.0) as usize;
        let sites = mailboxes.div_ceil(8);
        for j in 0..mailboxes {
            sources.push(Source {
                kind: SourceKind::SaslUser,
                id: format!("user{j}@site{}-{n}.example", j / 8),
                sub: format!("site{}-{n}.example", j / 8),
                rate: r.log_range(0.3, 12.0),
                rhythm: Rhythm::Office,
                pool: r.log_range(3.0, 40.0),
                bounce: r.log_range(0.003, 0.04),
                defer: r.log_range(0.005, 0.05),
            });
        }
        let script = |r: &mut Rng, site: usize, name: &str, rate: f64, rhythm: Rhythm| Source {
            kind: SourceKind::Script,
            id: format!("/var/www/vhosts/site{site}-{n}.example/httpdocs/{name}"),
            sub: format!("site{site}-{n}.example"),
            rate,
            rhythm,
            pool: r.log_range(20.0, 200.0),
            bounce: r.log_range(0.005, 0.04),
            defer: r.log_range(0.01, 0.05),
        };
        for site in 0..sites {
            if r.chance(0.5) {
                let rate = r.log_range(0.1, 2.0);
                sources.push(script(&mut r, site, "contact.php", rate, Rhythm::Shop));
            }
        }
        let days_f = f64::from(days);
        let mut episodes = Vec::new();
        let some_day =
            |r: &mut Rng, from: f64| START_MS + (r.range(from.min(days_f - 1.0), days_f - 0.2) * DAY_MS as f64) as i64;
        if r.chance(0.4) {
            let rate = r.log_range(2.0, 40.0);
            sources.push(script(&mut r, 0, "order.php", rate, Rhythm::Shop));
            let rate = r.log_range(0.1, 1.5);
            sources.push(script(&mut r, 0, "reset-password.php", rate, Rhythm::Shop));
            let (order, reset) = (sources.len() - 2, sources.len() - 1);
            if r.chance(0.25) {
                let start = some_day(&mut r, 1.0);
                let end = start + (r.range(0.3, 1.5) * HOUR_MS as f64) as i64;
                let total = r.log_range(300.0, 5000.0);
                let per_hour = total / ((end - start) as f64 / HOUR_MS as f64);
                episodes.push(Episode {
                    what: "password-reset storm",
                    source: reset,
                    start,
                    end,
                    per_hour,
                    factor: 1.0,
                    bounce: r.range(0.01, 0.06),
                    defer: r.range(0.01, 0.05),
                    rep: 0.001,
                    universe: 2000.0,
                });
            }
            if r.chance(0.25) {
                let start = some_day(&mut r, 1.0);
                let end = start + (r.range(2.0, 5.0) * DAY_MS as f64) as i64;
                episodes.push(Episode {
                    what: "holiday campaign",
                    source: order,
                    start,
                    end,
                    per_hour: 0.0,
                    factor: r.range(4.0, 15.0),
                    bounce: r.range(0.01, 0.05),
                    defer: r.range(0.03, 0.08),
                    rep: 0.002,
                    universe: 3000.0,
                });
            }
        }
        if r.chance(0.5) {
            sources.push(Source {
                kind: SourceKind::LocalUser,
                id: format!("{}", 10_000 + n),
                sub: format!("site0-{n}.example"),
                rate: r.log_range(0.05, 1.0),
                rhythm: Rhythm::Flat,
                pool: 2.0,
                bounce: 0.01,
                defer: 0.01,
            });
        }
        if r.chance(0.3) {
            sources.push(script(&mut r, 0, "newsletter.php", 0.05, Rhythm::Flat));
            let start = some_day(&mut r, 1.0) / DAY_MS * DAY_MS + (r.range(9.0, 15.0) * HOUR_MS as f64) as i64;
            let end = start + (r.log_range(1.0, 4.0) * HOUR_MS as f64) as i64;
            let per_hour = r.log_range(2000.0, 30000.0) / ((end - start) as f64 / HOUR_MS as f64);
            episodes.push(Episode {
                what: "monthly newsletter",
                source: sources.len() - 1,
                start,
                end,
                per_hour,
                factor: 1.0,
                bounce: r.log_range(0.005, 0.03),
                defer: r.range(0.02, 0.08),
                rep: 0.003,
                universe: 3000.0,
            });
        }
        // A user mails an old contact list: a one-off, once in about 120 days.
        if r.chance(days_f / 120.0) {
            let start = some_day(&mut r, 1.0);
            let end = start + (r.range(10.0, 40.0) * MINUTE_MS as f64) as i64;
            let per_hour = r.log_range(50.0, 400.0) / ((end - start) as f64 / HOUR_MS as f64);
            episodes.push(Episode {
                what: "mailing to an old contact list",
                source: r.below(mailboxes),
                start,
                end,
                per_hour,
                factor: 1.0,
                bounce: r.range(0.03, 0.20),
                defer: r.range(0.02, 0.06),
                rep: 0.001,
                universe: 300.0,
            });
        }
        let outbreak = kind.map(|kind| outbreak(&mut r, kind, n, days_f, mailboxes, &mut sources));
        let base_q = r.range(2.0, 30.0);
        Host {
            id: format!("web{n:04}.example"),
            ip: format!("198.{}.{}.{}", 18 + n / 62_500, (n / 250) % 250, n % 250 + 1),
            rng: r,
            sources,
            episodes,
            outbreak,
            backlog: 0.0,
            base_q,
            pressure: 0.0,
            seq: 0,
            lookalikes: Vec::new(),
            lrng: Rng::new(0),
        }
    }
}

impl Outbreak {
    /// The outbreak's parameters in one line (for `-v`).
    pub fn describe(&self) -> String {
        format!(
            "peak {:.0}/h after {} min, bounces {:.0}%, deferrals {:.0}%, botnet IPs/min {:.1}, trap 1/{:.0}, {}",
            self.peak,
            self.ramp_ms / MINUTE_MS,
            self.bounce * 100.0,
            self.defer * 100.0,
            self.ips,
            1.0 / self.trap_p,
            if self.source.is_some() { "one source" } else { "many forged senders" }
        )
    }
}

fn outbreak(r: &mut Rng, kind: Kind, n: usize, days: f64, mailboxes: usize, sources: &mut Vec<Source>) -> Outbreak {
    let start_ms = START_MS + (r.range(3.0_f64.min(days / 2.0), days - 1.0) * DAY_MS as f64) as i64;
    let minutes = |r: &mut Rng, lo: f64, hi: f64| (r.log_range(lo, hi) * MINUTE_MS as f64) as i64;
    let mut o = Outbreak {
        kind,
        start_ms,
        stop_ms: start_ms + (r.log_range(4.0, 24.0) * HOUR_MS as f64) as i64,
        peak: 0.0,
        ramp_ms: 0,
        bounce: 0.0,
        defer: 0.0,
        ips: 0.0,
        trap_p: 1.0 / r.log_range(500.0, 5000.0),
        delay_ms: (r.range(10.0, 60.0) * MINUTE_MS as f64) as i64,
        rep_scale: r.log_range(2000.0, 20000.0),
        source: None,
        trap_hits: 0,
        due_ms: None,
        listed_ms: None,
    };
    match kind {
        Kind::Hijack => {
            o.source = Some(r.below(mailboxes));
            o.peak = r.log_range(300.0, 6000.0);
            o.ramp_ms = minutes(r, 5.0, 60.0);
            o.bounce = r.range(0.05, 0.35);
            o.defer = r.range(0.05, 0.2);
            o.ips = if r.chance(0.7) { r.log_range(2.0, 30.0) } else { 0.0 };
        }
        Kind::PhpMailer => {
            sources.push(Source {
                kind: SourceKind::Script,
                id: format!("/var/www/vhosts/site0-{n}.example/httpdocs/wp-content/uploads/{:x}.php", r.next() >> 40),
                sub: format!("site0-{n}.example"),
                rate: 0.0,
                rhythm: Rhythm::Flat,
                pool: 1.0,
                bounce: 0.0,
                defer: 0.0,
            });
            o.source = Some(sources.len() - 1);
            o.peak = r.log_range(500.0, 10000.0);
            o.ramp_ms = minutes(r, 2.0, 20.0);
            o.bounce = r.range(0.05, 0.4);
            o.defer = r.range(0.05, 0.25);
        }
        Kind::Forwarding if r.chance(0.5) => {
            sources.push(Source {
                kind: SourceKind::Sender,
                id: "MAILER-DAEMON".into(),
                sub: String::new(),
                rate: 0.0,
                rhythm: Rhythm::Flat,
                pool: 1.0,
                bounce: 0.0,
                defer: 0.0,
            });
            o.source = Some(sources.len() - 1);
            o.peak = r.log_range(100.0, 2000.0);
            o.ramp_ms = minutes(r, 10.0, 120.0);
            o.bounce = r.range(0.3, 0.6);
            o.defer = r.range(0.15, 0.4);
        }
        Kind::Forwarding => {
            o.peak = r.log_range(200.0, 3000.0);
            o.ramp_ms = minutes(r, 10.0, 120.0);
            o.bounce = r.range(0.01, 0.08);
            o.defer = r.range(0.05, 0.15);
            // Gmail defers forwarded spam for the forwarder's reputation early.
            o.rep_scale /= 3.0;
        }
    }
    o
}
