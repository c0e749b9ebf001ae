//! One host: its own baseline (the whole host's mail, reputation
//! deferrals, queue) and its sources, bounded.

use rblfleet_proto::v1::HostReport;
use serde::{Deserialize, Serialize};

use super::receiver::{self, ReceiverState};
use super::reputation;
use super::signal::{self, Alarm, Fired, Signal, Transition};
use super::source::{Baseline, SourceState};
use super::stat::{Counts, HOUR_MS, Stat, Window, clamp32};
use super::{Cleared, Event, Subject, Warning};

/// Sources kept per host; the least recently seen unwarned one makes room.
/// The agent reports its top sources per interval, so 64 covers a host's
/// regular senders with room for newcomers.
pub const MAX_SOURCES: usize = 64;
/// Reputation labels kept ("Yahoo TSS04"), most recent first.
const MAX_LABELS: usize = 6;
/// Sending IPs kept per host.
const MAX_IPS: usize = 16;

mod members;

/// The baseline of the host as a whole.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct HostBaseline {
    /// Delivery attempts per hour.
    pub messages: Stat,
    pub bounce: Stat,
    pub deferral: Stat,
    /// Reputation deferrals per hour.
    pub reputation: Stat,
    /// Largest queue of the hour.
    pub queue: Stat,
}

impl HostBaseline {
    /// What the fleet assumes of a new host: a small shared host.
    pub fn fleet_default() -> Self {
        HostBaseline {
            messages: Stat::prior(200.0, 200.0),
            bounce: Stat::prior(0.03, 0.03),
            deferral: Stat::prior(0.05, 0.05),
            reputation: Stat::prior(0.0, 1.0),
            queue: Stat::prior(25.0, 25.0),
        }
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
struct Label {
    label: String,
    last_ms: i64,
}

/// Everything the detector keeps for one host: serialisable, bounded
/// (about 1 KB plus 400 bytes and the names per source).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct HostState {
    pub host_id: String,
    /// The sending IPs of the last report that listed any.
    pub ips: Vec<String>,
    pub baseline: HostBaseline,
    /// The host's average source: a new source's prior.
    pub source_prior: Baseline,
    window: Window,
    hour: Counts,
    hour_ms: i64,
    hour_warned: bool,
    labels: Vec<Label>,
    alarm: Alarm,
    sources: Vec<SourceState>,
    /// The big receivers the agent reports (absent in states saved before).
    #[serde(default)]
    receivers: Vec<ReceiverState>,
    /// The current hour had an anomaly on the host or any source: the
    /// receivers do not learn it.
    #[serde(default)]
    hour_anomaly: bool,
}

impl HostState {
    /// A host nobody has seen, starting from the fleet's priors.
    pub fn new(host_id: &str) -> Self {
        HostState {
            host_id: host_id.to_owned(),
            ips: Vec::new(),
            baseline: HostBaseline::fleet_default(),
            source_prior: Baseline::fleet_default(),
            window: Window::default(),
            hour: Counts::default(),
            hour_ms: 0,
            hour_warned: false,
            labels: Vec::new(),
            alarm: Alarm::default(),
            sources: Vec::new(),
            receivers: Vec::new(),
            hour_anomaly: false,
        }
    }

    /// The sources kept, in no particular order.
    pub fn sources(&self) -> &[SourceState] {
        &self.sources
    }

    /// The big receivers kept, in no particular order.
    pub fn receivers(&self) -> &[ReceiverState] {
        &self.receivers
    }

    /// The host's last 30 minutes, for display next to the baseline.
    pub fn recent(&self) -> Counts {
        self.window.total()
    }

    /// True while the host itself (not one of its sources) is warned.
    pub fn is_warned(&self) -> bool {
        self.alarm.is_warned()
    }

    /// Feeds one report (reports of a host in time order) and returns the
    /// warnings raised and cleared by it.
    pub fn observe(&mut self, report: &HostReport) -> Vec<Event> {
        let at = report.period_end_ms;
        self.note_ips(report);
        self.roll(at);
        let c = self.counts(report);
        if self.window.add(at, &c) {
            self.hour.add(&c);
        }
        for s in &report.sources {
            let i = self.source_index(s);
            self.sources[i].observe(s, at, &mut self.source_prior);
        }
        for r in &report.receivers {
            let i = self.receiver_index(&r.provider);
            self.receivers[i].observe(r, at);
        }
        for e in report.blocklist.iter().filter(|e| e.family == "ip" && e.temporary && !e.provider.is_empty()) {
            if let Some(r) = self.receivers.iter_mut().find(|r| r.provider == e.provider) {
                r.note_reputation(clamp32(e.count), at);
            }
        }
        // The busiest source's last 30 minutes, for the receivers' half
        // hours: did one source carry a receiver's surge?
        let top = self.sources.iter().filter(|s| s.last_seen_ms == at).map(|s| s.recent().messages).max().unwrap_or(0);
        for r in &mut self.receivers {
            r.advance(at);
            r.halves.note_top(top);
            // A half hour like a slow forward of spam is not learned.
            self.hour_anomaly |= r.halves.latest_flagged();
        }
        let w = self.window.total();
        let host_fired = self.evaluate(&w, at);
        let reputation = host_fired.iter().find(|f| matches!(f.signal, Signal::Reputation { .. }));
        let mut events = Vec::new();
        for src in &mut self.sources {
            if src.last_seen_ms != at && !src.alarm.is_warned() {
                continue;
            }
            let (fired, recent) = src.evaluate(at, reputation.map(|r| (r, &w)));
            let verdict = signal::score(&fired, recent.messages, src.min_messages());
            src.hour_signal |= !fired.is_empty();
            // An hour with an anomaly, even one too small to warn yet, is
            // not learned: a slow outbreak must not become its own baseline.
            if verdict.pending || verdict.warns {
                src.hour_warned = true;
                self.hour_anomaly = true;
            }
            let subject =
                Subject::Source { kind: src.source_kind(), id: src.id.clone(), subscription: src.subscription.clone() };
            match src.alarm.step(at, verdict) {
                Transition::Warn => {
                    src.hour_warned = true;
                    events.push(Event::Warning(warning(
                        &self.host_id,
                        &self.ips,
                        subject,
                        verdict.score,
                        &fired,
                        src.first_step(),
                        at,
                    )));
                }
                Transition::Clear(since) => events.push(Event::Cleared(Cleared {
                    host_id: self.host_id.clone(),
                    subject,
                    at_ms: at,
                    warned_at_ms: since,
                })),
                Transition::None => {}
            }
        }
        // The host warns for itself only when no source explains it: one
        // warning per outbreak, naming the source when there is one. While
        // a source's anomaly waits to last (a person's one-off mailing, or a
        // small outbreak), the host's bounce and deferral ratios are that
        // source's numbers again and wait with it; what only the host sees
        // (reputation deferrals, queue growth, a receiver's deferrals,
        // blocklist refusals) still warns at once.
        let min = if self.sources.iter().any(|s| s.is_pending(at)) { u32::MAX } else { signal::MIN_MESSAGES };
        let mut verdict = signal::score(&host_fired, w.messages, min);
        let warned = self.sources.iter().any(SourceState::is_warned);
        if verdict.pending || verdict.warns || warned {
            self.hour_anomaly = true;
        }
        if warned {
            (verdict.warns, verdict.pending) = (false, false);
        }
        if verdict.pending || verdict.warns {
            self.hour_warned = true;
        }
        match self.alarm.step(at, verdict) {
            Transition::Warn => {
                self.hour_warned = true;
                let step = format!(
                    "pause outgoing mail on {} (Postfix: postsuper -h ALL; qmail: stop qmail-send) and find the sender with `rblfleet host {}`",
                    self.host_id, self.host_id
                );
                events.push(Event::Warning(warning(
                    &self.host_id,
                    &self.ips,
                    Subject::Host,
                    verdict.score,
                    &host_fired,
                    step,
                    at,
                )));
            }
            Transition::Clear(since) => events.push(Event::Cleared(Cleared {
                host_id: self.host_id.clone(),
                subject: Subject::Host,
                at_ms: at,
                warned_at_ms: since,
            })),
            Transition::None => {}
        }
        events
    }

    /// The host's counts in one report, and the reputation labels it names.
    fn counts(&mut self, report: &HostReport) -> Counts {
        let mut c = Counts { reports: 1, ..Counts::default() };
        if let Some(d) = &report.deliveries {
            c.attempts = clamp32(d.sent.saturating_add(d.deferred).saturating_add(d.bounced));
            c.messages = c.attempts;
            c.bounced = clamp32(d.bounced);
            c.deferred = clamp32(d.deferred);
            c.blocklisted = clamp32(d.blocklisted);
        }
        if let Some(q) = &report.queue {
            let q = clamp32(q.total);
            (c.queue_first, c.queue_last, c.queue_max) = (q, q, q);
        }
        for e in report.blocklist.iter().filter(|e| e.family == "ip" && e.temporary) {
            c.reputation = c.reputation.saturating_add(clamp32(e.count));
            let label = label(&e.provider, &e.code);
            self.labels.retain(|l| l.label != label);
            self.labels.insert(0, Label { label, last_ms: report.period_end_ms });
            self.labels.truncate(MAX_LABELS);
        }
        c
    }

    fn roll(&mut self, at_ms: i64) {
        let hour = at_ms.div_euclid(HOUR_MS) * HOUR_MS;
        if hour <= self.hour_ms {
            return;
        }
        if self.hour_ms != 0 && !self.hour_warned {
            let h = &self.hour;
            let clean = h.bounce_ratio() < 0.10 && h.reputation < 10;
            let b = &mut self.baseline;
            b.messages.update(h.messages as f32, clean);
            b.reputation.update(h.reputation as f32, clean);
            b.queue.update(h.queue_max as f32, clean);
            if h.attempts >= 5 {
                b.bounce.update_ratio(h.bounce_ratio(), clean);
                b.deferral.update_ratio(h.deferral_ratio(), clean);
            }
        }
        if self.hour_ms != 0 {
            let idle = u32::try_from((hour - self.hour_ms) / HOUR_MS - 1).unwrap_or(u32::MAX);
            self.baseline.messages.idle(idle);
            self.baseline.reputation.idle(idle);
            for r in &mut self.receivers {
                r.close_hour(!self.hour_anomaly, idle);
            }
        }
        self.hour = Counts::default();
        self.hour_ms = hour;
        self.hour_warned = self.alarm.is_warned();
        self.hour_anomaly = self.hour_warned || self.sources.iter().any(SourceState::is_warned);
    }

    /// The host's own signals over its last 30 minutes (what `observe` last
    /// scored), for display and for tracing the replay benchmark.
    pub fn signals(&self, at_ms: i64) -> Vec<Fired> {
        self.evaluate(&self.window.total(), at_ms)
    }

    /// The host's signals over the window `w`.
    fn evaluate(&self, w: &Counts, at_ms: i64) -> Vec<Fired> {
        let b = &self.baseline;
        let mut fired = Vec::new();
        fired.extend(signal::volume(w, b.messages.level, b.messages.peak, 200, 20.0));
        fired.extend(signal::bounce_ratio(w, b.bounce.level, 20));
        fired.extend(signal::deferral_ratio(w, b.deferral.level, 30));
        fired.extend(signal::blocklisted(w));
        // The receiver deferring most beyond its usual; one only: the
        // receivers share the same outbreak's mail and its reputation
        // deferrals, which are counted below.
        // A receiver deferring the mail of a clean bulk source that carries
        // the host's refusals is pacing a campaign, not judging spam (see
        // [`reputation`]); that source's own signals judge it.
        fired.extend(
            self.receivers
                .iter()
                .filter_map(|r| receiver::deferrals(&r.provider, &r.recent(), &r.messages, &r.deferral))
                .max_by(|a, b| a.strength.total_cmp(&b.strength))
                .filter(|_| reputation::bulk_carrier(&self.sources, w, at_ms).is_none()),
        );
        fired.extend(reputation::sustained(&self.receivers, &self.sources, at_ms));
        // A surge nobody carries that its receiver defers and bounces: one
        // receiver is enough, the first that says so.
        let top = || {
            self.sources
                .iter()
                .filter(|s| at_ms - s.last_seen_ms < signal::CALM_MS)
                .map(|s| s.recent().messages)
                .max()
                .unwrap_or(0)
        };
        fired.extend(self.receivers.iter().find_map(|r| receiver::refusal::refused(r, b.bounce.level, top)));
        let labels = || {
            self.labels
                .iter()
                .filter(|l| at_ms - l.last_ms < 30 * 60_000)
                .map(|l| l.label.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        };
        fired.extend(reputation::host_signal(w, b.reputation.level, labels, || {
            reputation::bulk_carrier(&self.sources, w, at_ms)
        }));
        // Queue growth: 200 messages more than at the start of the window,
        // 4x the largest usual queue, and a tenth of the window's attempts
        // or more left behind: a newsletter grows the queue by its few
        // percent of deferrals, an outbreak that receivers refuse by far more.
        let peak = b.queue.peak.max(25.0);
        let growth = w.queue_last.saturating_sub(w.queue_first);
        if growth >= 200 && w.queue_last as f32 >= 4.0 * peak && growth as f32 >= 0.1 * w.attempts as f32 {
            fired.push(Fired {
                signal: Signal::QueueGrowth { from: w.queue_first, to: w.queue_last },
                strength: signal::grade(w.queue_last as f32, 4.0 * peak, 10.0, 2.0),
            });
        }
        fired
    }
}

/// "Yahoo TSS04", "Gmail 4.7.28": the words the NOC knows the refusal by.
fn label(provider: &str, code: &str) -> String {
    let name = signal::provider_name(provider);
    if code.is_empty() { name.to_owned() } else { format!("{name} {code}") }
}

fn warning(
    host_id: &str,
    ips: &[String],
    subject: Subject,
    score: f32,
    fired: &[Fired],
    first_step: String,
    at_ms: i64,
) -> Warning {
    Warning {
        host_id: host_id.to_owned(),
        ips: ips.to_vec(),
        subject,
        score,
        reasons: fired.iter().map(|f| f.signal.reason()).collect(),
        first_step,
        at_ms,
    }
}
