//! The detector on recorded-style series: a week of a normal host, then the
//! pattern under test, minute by minute as an agent reports.

use rblfleet_proto::v1::{BlocklistEvidence, DeliveryTotals, HostIp, HostReport, QueueStats, SourceKind, SourceStats};

use super::signal::{self, Alarm, Transition, Verdict};
use super::stat::{BUCKET_MS, Counts, Stat, Window};
use super::*;

const MIN: i64 = 60_000;
/// Monday 2 November 2026, 00:00 UTC.
const T0: i64 = 1_793_577_600_000;

/// One source's minute: messages, bounced, deferred, recipient domains, client IPs.
fn src(kind: SourceKind, id: &str, m: u64, bounced: u64, deferred: u64, domains: u64, ips: u64) -> SourceStats {
    SourceStats {
        kind: kind as i32,
        id: id.into(),
        messages: m,
        sent: m - bounced - deferred,
        bounced,
        deferred,
        recipient_domains: domains,
        client_ips: ips,
        ..SourceStats::default()
    }
}

fn report(at: i64, sources: Vec<SourceStats>, queue: u64, reputation: u64) -> HostReport {
    let mut d = DeliveryTotals::default();
    for s in &sources {
        d.sent += s.sent;
        d.bounced += s.bounced;
        d.deferred += s.deferred;
    }
    let blocklist = (reputation > 0)
        .then(|| BlocklistEvidence {
            provider: "yahoo".into(),
            code: "TSS04".into(),
            family: "ip".into(),
            temporary: true,
            count: reputation,
            ..BlocklistEvidence::default()
        })
        .into_iter()
        .collect();
    HostReport {
        host_id: "web01.example".into(),
        period_start_ms: at - MIN,
        period_end_ms: at,
        ips: vec![HostIp { address: "203.0.113.7".into(), public: true, sends_mail: true, ..HostIp::default() }],
        queue: Some(QueueStats { total: queue, ..QueueStats::default() }),
        deliveries: Some(d),
        blocklist,
        sources,
        ..HostReport::default()
    }
}

/// A normal office minute: office@ sends 1 message every 2 minutes in
/// working hours (weekdays 8-18), shop's order script 1 every 3 minutes all day.
fn normal(minute: i64) -> Vec<SourceStats> {
    let t = minute % (7 * 1440);
    let (day, hour) = (t / 1440, (t % 1440) / 60);
    let mut v = Vec::new();
    if day < 5 && (8..18).contains(&hour) && minute % 2 == 0 {
        v.push(src(SourceKind::SaslUser, "office@shop.example", 1, 0, 0, 1, 1));
    }
    if minute % 3 == 0 {
        v.push(src(
            SourceKind::Script,
            "/var/www/vhosts/shop.example/httpdocs/order.php",
            1,
            u64::from(minute % 90 == 0),
            0,
            1,
            0,
        ));
    }
    v
}

/// A week of normal minutes, then `extra(minute)` added for `minutes` more;
/// returns every event after the first week.
fn run(state: &mut HostState, minutes: i64, extra: impl Fn(i64) -> (Vec<SourceStats>, u64, u64)) -> Vec<Event> {
    let week = 7 * 1440;
    for m in 1..=week {
        assert!(
            state.observe(&report(T0 + m * MIN, normal(m), 5, 0)).is_empty(),
            "warning in the normal week at minute {m}"
        );
    }
    let mut events = Vec::new();
    for m in week + 1..=week + minutes {
        let (mut sources, queue, reputation) = extra(m - week);
        sources.extend(normal(m));
        events.extend(state.observe(&report(T0 + m * MIN, sources, queue, reputation)));
    }
    events
}

fn warnings(events: &[Event]) -> Vec<&Warning> {
    events.iter().filter_map(|e| if let Event::Warning(w) = e { Some(w) } else { None }).collect()
}

#[test]
fn stat_learns_a_steady_level_and_shrugs_off_one_spike() {
    let mut s = Stat::prior(10.0, 10.0);
    for _ in 0..200 {
        s.update(50.0, true);
    }
    assert!((s.level - 50.0).abs() < 1.0, "{s:?}");
    s.update(5000.0, true);
    assert!(s.level < 60.0, "one spike moved the level to {}", s.level);
    assert!(s.peak >= 5000.0 * 0.99, "a clean spike is remembered as the peak");
    let mut dirty = s;
    dirty.update(100_000.0, false);
    assert!(dirty.peak < 10_000.0, "an unclean hour must not teach its volume: {}", dirty.peak);
    s.idle(72);
    assert!(s.level < 50.0 * 0.4, "three idle days decay the level: {}", s.level);
}

#[test]
fn window_keeps_the_last_half_hour() {
    let mut w = Window::default();
    let c = Counts { reports: 1, messages: 10, ..Counts::default() };
    for i in 0..12 {
        assert!(w.add(T0 + i * BUCKET_MS, &c));
    }
    assert_eq!(w.total().messages, 60, "six buckets of 10");
    assert!(!w.add(T0, &c), "a report older than the window is dropped");
    w.advance(T0 + 100 * BUCKET_MS);
    assert_eq!(w.total().messages, 0);
}

#[test]
fn a_normal_week_and_a_quiet_weekend_raise_nothing() {
    let mut state = HostState::new("web01.example");
    let events = run(&mut state, 7 * 1440, |_| (Vec::new(), 5, 0));
    assert!(events.is_empty(), "{events:?}");
    let order = state.sources().iter().find(|s| s.id.ends_with("order.php")).map(|s| s.baseline.messages.level);
    assert!(order.is_some_and(|l| (15.0..25.0).contains(&l)), "order.php sends 20/h: {order:?}");
}

#[test]
fn hijacked_mailbox_warns_with_reasons_and_the_mailbox_to_suspend() {
    let mut state = HostState::new("web01.example");
    // 40 messages a minute from 12 client IPs, a quarter bouncing.
    let events =
        run(&mut state, 60, |_| (vec![src(SourceKind::SaslUser, "office@shop.example", 40, 10, 4, 35, 12)], 5, 0));
    let w = warnings(&events);
    assert_eq!(w.len(), 1, "one warning, not one per report: {events:?}");
    let w = w[0];
    assert!(
        matches!(&w.subject, Subject::Source { id, kind: SourceKind::SaslUser, .. } if id == "office@shop.example")
    );
    assert_eq!(w.ips, vec!["203.0.113.7".to_owned()]);
    assert!(w.at_ms <= T0 + (7 * 1440 + 10) * MIN, "warned within 10 minutes");
    let reasons = w.reasons.join("; ");
    assert!(reasons.contains("client IPs") && reasons.contains("bounce ratio"), "{reasons}");
    assert!(w.first_step.starts_with("suspend mailbox office@shop.example"), "{}", w.first_step);
}

#[test]
fn php_mailer_warns_on_volume_fan_out_and_bounces() {
    let mut state = HostState::new("web01.example");
    let script = "/var/www/vhosts/shop.example/httpdocs/wp-content/uploads/x.php";
    let events = run(&mut state, 60, |_| (vec![src(SourceKind::Script, script, 60, 12, 6, 50, 0)], 5, 0));
    let w = warnings(&events);
    assert_eq!(w.len(), 1, "{events:?}");
    assert!(
        w[0].reasons.iter().any(|r| r.starts_with("sent ") && r.contains("messages in the last 30 min")),
        "{:?}",
        w[0].reasons
    );
    assert!(w[0].first_step.starts_with("disable script"), "{}", w[0].first_step);
}

#[test]
fn reputation_deferrals_and_queue_growth_warn_the_host_when_no_source_explains_them() {
    let mut state = HostState::new("web01.example");
    // Forwarded spam: a new forged sender every minute, Yahoo deferring.
    let events = run(&mut state, 60, |m| {
        (vec![src(SourceKind::Sender, &format!("x{m}@forged.example"), 30, 1, 12, 20, 0)], 5 + 15 * m as u64, 6)
    });
    let w = warnings(&events);
    assert_eq!(w.len(), 1, "{events:?}");
    assert_eq!(w[0].subject, Subject::Host);
    let reasons = w[0].reasons.join("; ");
    assert!(reasons.contains("Yahoo TSS04 reputation deferrals"), "{reasons}");
    assert!(w[0].first_step.starts_with("pause outgoing mail on web01.example"), "{}", w[0].first_step);
}

#[test]
fn holiday_campaign_newsletter_and_password_reset_storm_do_not_warn() {
    // Holiday campaign: order.php at 10x for three days, 2% bounces.
    let mut state = HostState::new("web01.example");
    let order = "/var/www/vhosts/shop.example/httpdocs/order.php";
    let events = run(&mut state, 3 * 1440, |m| {
        (vec![src(SourceKind::Script, order, 3 + u64::from(m % 50 == 0), 0, 0, 3, 0)], 8, 0)
    });
    assert!(warnings(&events).is_empty(), "holiday campaign: {events:?}");

    // Monthly newsletter: 20,000 in two hours, 2% bounces, 3% deferrals.
    let mut state = HostState::new("web01.example");
    let news = "/var/www/vhosts/shop.example/httpdocs/newsletter.php";
    let events = run(&mut state, 240, |m| {
        let v = if m <= 120 { vec![src(SourceKind::Script, news, 166, 3, 5, 60, 0)] } else { Vec::new() };
        (v, 5 + if m <= 120 { 40 } else { 0 }, u64::from(m % 10 == 0))
    });
    assert!(warnings(&events).is_empty(), "newsletter: {events:?}");

    // Password-reset storm: 2,000 in 40 minutes, 4% bounces.
    let mut state = HostState::new("web01.example");
    let reset = "/var/www/vhosts/shop.example/httpdocs/reset-password.php";
    let events = run(&mut state, 120, |m| {
        (if m <= 40 { vec![src(SourceKind::Script, reset, 50, 2, 1, 25, 0)] } else { Vec::new() }, 6, 0)
    });
    assert!(warnings(&events).is_empty(), "reset storm: {events:?}");
}

#[test]
fn a_warning_stays_until_calm_then_clears_once() {
    let mut state = HostState::new("web01.example");
    let events = run(&mut state, 240, |m| {
        (
            if m <= 60 {
                vec![src(SourceKind::SaslUser, "office@shop.example", 40, 10, 4, 35, 12)]
            } else {
                Vec::new()
            },
            5,
            0,
        )
    });
    assert_eq!(warnings(&events).len(), 1, "{events:?}");
    let cleared: Vec<&Cleared> =
        events.iter().filter_map(|e| if let Event::Cleared(c) = e { Some(c) } else { None }).collect();
    assert_eq!(cleared.len(), 1, "{events:?}");
    let week_end = T0 + 7 * 1440 * MIN;
    assert!(cleared[0].at_ms >= week_end + 60 * MIN + signal::CALM_MS, "not before the calm period");
    assert_eq!(Some(cleared[0].warned_at_ms), warnings(&events).first().map(|w| w.at_ms));
}

#[test]
fn alarm_hysteresis_and_sustained_small_anomalies() {
    let mut a = Alarm::default();
    let warn = Verdict { score: 3.0, warns: true, pending: true };
    let middling = Verdict { score: 1.5, warns: false, pending: false };
    let calm = Verdict { score: 0.2, warns: false, pending: false };
    assert_eq!(a.step(MIN, warn), Transition::Warn);
    assert_eq!(a.step(2 * MIN, warn), Transition::None, "no repeat");
    assert_eq!(a.step(3 * MIN, middling), Transition::None, "above the clear score stays warned");
    assert_eq!(a.step(4 * MIN, calm), Transition::None);
    assert_eq!(a.step(4 * MIN + signal::CALM_MS, calm), Transition::Clear(MIN));
    let small = Verdict { score: 3.0, warns: false, pending: true };
    assert_eq!(a.step(10 * MIN, small), Transition::None);
    assert_eq!(a.step(10 * MIN + signal::SUSTAIN_MS, small), Transition::Warn, "a small anomaly that lasts warns");
}

#[test]
fn sources_are_bounded_and_state_round_trips_through_bytes() {
    let mut state = HostState::new("web01.example");
    for m in 1..=600 {
        let sources = (0..5).map(|i| src(SourceKind::Sender, &format!("s{m}-{i}@x.example"), 1, 0, 0, 1, 0)).collect();
        state.observe(&report(T0 + m * MIN, sources, 5, 0));
    }
    assert_eq!(state.sources().len(), host::MAX_SOURCES);
    let bytes = state.to_bytes();
    assert_eq!(bytes[0], STATE_VERSION);
    assert!(bytes.len() < 200_000, "{} bytes", bytes.len());
    let back = HostState::from_bytes(&bytes).expect("round trip");
    assert_eq!(back, state);
    assert!(matches!(HostState::from_bytes(&[]), Err(StateError::Empty)));
    assert!(matches!(HostState::from_bytes(&[99, b'{']), Err(StateError::Version(99))));
    assert!(matches!(HostState::from_bytes(&[STATE_VERSION, b'{']), Err(StateError::Decode(_))));
}

#[test]
fn reasons_read_like_a_person_wrote_them() {
    assert_eq!(signal::thousands(2140), "2,140");
    assert_eq!(signal::thousands(1_234_567), "1,234,567");
    assert_eq!(signal::percent(0.38), "38%");
    assert_eq!(signal::percent(0.005), "0.5%");
    let v = signal::Signal::Volume { now: 1070, usual_per_hour: 52.0 };
    assert_eq!(v.reason(), "sent 1,070 messages in the last 30 min, 41x its usual 52/h");
}

/// A week of normal minutes with their mail reported at Gmail (none
/// deferred), then `extra(minute)`: (sources, their Gmail and Yahoo
/// (attempts, deferred)). Returns every event after the week.
fn run_receivers(minutes: i64, extra: impl Fn(i64) -> (Vec<SourceStats>, (u64, u64), (u64, u64))) -> Vec<Event> {
    use rblfleet_proto::v1::ReceiverStats;
    let at = |provider: &str, (attempts, deferred): (u64, u64)| ReceiverStats {
        provider: provider.into(),
        sent: attempts - deferred,
        deferred,
        ..ReceiverStats::default()
    };
    let mut state = HostState::new("web01.example");
    let week = 7 * 1440;
    let mut events = Vec::new();
    for m in 1..=week + minutes {
        let (mut sources, google, yahoo) = if m > week { extra(m - week) } else { (Vec::new(), (0, 0), (0, 0)) };
        let normal = normal(m);
        let own: u64 = normal.iter().map(|s| s.messages).sum();
        sources.extend(normal);
        let mut r = report(T0 + m * MIN, sources, 5, 0);
        r.receivers = vec![at("google", (google.0 + own, google.1)), at("yahoo", yahoo)];
        let e = state.observe(&r);
        assert!(m > week || e.is_empty(), "warning in the normal week at minute {m}");
        events.extend(e);
    }
    events
}

#[test]
fn a_forward_of_spam_to_gmail_warns_the_host_on_gmail_deferrals() {
    // 5 forwarded messages a minute from forged senders, all to Gmail, one
    // in five deferred: no source stands out and the host's volume is small.
    let events = run_receivers(4 * 60, |m| {
        let sources = (0..5)
            .map(|i| {
                let id = format!("f{m}x{i}@forged{i}.example");
                src(SourceKind::Sender, &id, 1, 0, u64::from(i == 0), 1, 0)
            })
            .collect();
        (sources, (5, 1), (0, 0))
    });
    let w = warnings(&events);
    assert_eq!(w.len(), 1, "{events:?}");
    assert_eq!(w[0].subject, Subject::Host);
    assert!(w[0].reasons.iter().any(|r| r.starts_with("Gmail deferred ")), "{:?}", w[0].reasons);
    // Below MIN_MESSAGES it waits for SUSTAIN_MS, and no longer.
    let after = (w[0].at_ms - (T0 + 7 * 1440 * MIN)) / MIN;
    assert!((120..=160).contains(&after), "warned after {after} min");
}

#[test]
fn a_newsletter_to_gmail_and_yahoo_with_normal_deferrals_does_not_warn() {
    // 6,000 messages an hour for three hours: 40% to Gmail, 20% to Yahoo,
    // each deferring 5% of it ("unexpected volume" throttling).
    let events = run_receivers(4 * 60, |m| {
        if m > 180 {
            return (Vec::new(), (0, 0), (0, 0));
        }
        let s = src(SourceKind::Script, "/var/www/vhosts/shop.example/httpdocs/newsletter.php", 100, 1, 3, 60, 0);
        (vec![s], (40, 2), (20, 1))
    });
    assert!(warnings(&events).is_empty(), "{events:?}");
}

#[test]
fn receiver_deferrals_need_more_mail_than_usual_and_a_ratio_well_above_it() {
    use super::receiver::deferrals;
    let usual_rate = Stat::prior(100.0, 20.0);
    let usual_ratio = Stat::prior(0.02, 0.01);
    let w = |attempts, deferred| Counts { attempts, messages: attempts, deferred, ..Counts::default() };
    // 150 attempts in 30 min (3x the usual rate), 20% deferred: fires.
    let f = deferrals("google", &w(150, 30), &usual_rate, &usual_ratio).expect("3x the mail, 20% deferred");
    assert!(f.strength > 1.0 && f.strength <= 2.0, "{f:?}");
    // The usual volume, deferred: the receiver's own bad day, not ours.
    assert!(deferrals("google", &w(50, 10), &usual_rate, &usual_ratio).is_none());
    // More mail, normal deferrals (5%): a newsletter.
    assert!(deferrals("google", &w(1000, 50), &usual_rate, &usual_ratio).is_none());
    // Too few deferrals to mean anything.
    assert!(deferrals("google", &w(120, 9), &usual_rate, &usual_ratio).is_none());
}

#[test]
fn a_surge_to_a_receiver_lets_a_smaller_rise_in_its_deferrals_count() {
    use super::receiver::deferrals;
    let usual_rate = Stat::prior(40.0, 10.0);
    let usual_ratio = Stat::prior(0.03, 0.01);
    let w = |attempts, deferred| Counts { attempts, messages: attempts, deferred, ..Counts::default() };
    // 230/h to Gmail (5.75x its usual 40/h), 14% deferred (4.7x the usual 3%):
    // the seed-24 forward. Fires at a surge, not at twice the mail.
    assert!(deferrals("google", &w(115, 16), &usual_rate, &usual_ratio).is_some());
    assert!(deferrals("google", &w(60, 9), &usual_rate, &usual_ratio).is_none());
    // Negatives: 9.6% at a surge is under the 12% floor (the seed-28
    // forward: `receiver::sustained` catches it once it lasts); a
    // newsletter's surge with 6–7% deferrals.
    assert!(deferrals("google", &w(104, 10), &usual_rate, &usual_ratio).is_none());
    assert!(deferrals("google", &w(500, 30), &usual_rate, &usual_ratio).is_none());
    assert!(deferrals("google", &w(500, 35), &usual_rate, &usual_ratio).is_none());
}

mod bulk;
mod peaks;
mod refusal;
mod sustained;
