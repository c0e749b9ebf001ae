//! The sustained receiver rule on recorded-style series: the replay's
//! seed-28 forward of spam to Gmail, and the legitimate traffic that looks
//! like it (a campaign to a Gmail-heavy list rate-limited with 4.7.28, a
//! forwarded mailbox's busy day).

use rblfleet_proto::v1::{BlocklistEvidence, ReceiverStats, SourceKind, SourceStats};

use super::{MIN, T0, normal, report, src, warnings};
use crate::outbreak::receiver::sustained::{HALF_MS, Half, Halves, NEEDED};
use crate::outbreak::stat::Stat;
use crate::outbreak::{Event, HostState, Subject};

/// One minute of the pattern: its sources, its mail to Gmail (attempts,
/// deferred) and Gmail's 4.7.28 deferrals.
pub(super) struct Minute {
    pub(super) sources: Vec<SourceStats>,
    pub(super) gmail: (u64, u64),
    pub(super) rep: u64,
}

/// A week of the normal office (all of it to Gmail, a deferral every three hours:
/// about 1%, and a 4.7.28 a day), then `extra(minute)` on top for
/// `minutes`. Returns the events after the week.
pub(super) fn run(minutes: i64, extra: impl Fn(i64) -> Minute) -> Vec<Event> {
    run_bounced(minutes, |m| (extra(m), 0))
}

/// [`run`], with `extra` also giving the Gmail mail's hard bounces of the
/// minute (counted in its attempts).
pub(super) fn run_bounced(minutes: i64, extra: impl Fn(i64) -> (Minute, u64)) -> Vec<Event> {
    let mut state = HostState::new("web01.example");
    let week = 7 * 1440;
    let mut events = Vec::new();
    for m in 1..=week + minutes {
        let (x, bounced) =
            if m > week { extra(m - week) } else { (Minute { sources: Vec::new(), gmail: (0, 0), rep: 0 }, 0) };
        let normal = normal(m);
        let own: u64 = normal.iter().map(|s| s.messages).sum();
        let own_deferred = u64::from(m % 180 == 0 && own > 0);
        let mut sources = x.sources;
        sources.extend(normal);
        let mut r = report(T0 + m * MIN, sources, 5, 0);
        r.receivers = vec![ReceiverStats {
            provider: "google".into(),
            sent: own + x.gmail.0 - own_deferred - x.gmail.1 - bounced,
            deferred: own_deferred + x.gmail.1,
            bounced,
            ..ReceiverStats::default()
        }];
        let rep = x.rep + u64::from(m % 1440 == 700);
        if rep > 0 {
            r.blocklist = vec![BlocklistEvidence {
                provider: "google".into(),
                code: "4.7.28".into(),
                family: "ip".into(),
                temporary: true,
                count: rep,
                ..BlocklistEvidence::default()
            }];
        }
        let e = state.observe(&r);
        assert!(m > week || e.is_empty(), "warning in the normal week at minute {m}: {e:?}");
        events.extend(e);
    }
    events
}

/// `n` forwarded messages from forged senders, all to Gmail.
pub(super) fn forwarded(m: i64, n: u64) -> Vec<SourceStats> {
    (0..n).map(|i| src(SourceKind::Sender, &format!("f{m}x{i}@forged{i}.example"), 1, 0, 0, 1, 0)).collect()
}

#[test]
fn a_slow_forward_of_spam_to_gmail_warns_once_it_has_lasted() {
    // Seed 28: 240/h forwarded to Gmail (about 6x its usual), 9% deferred
    // (usual about 1%), 5 reputation deferrals per 30 min, for 8 hours.
    let events = run(8 * 60, |m| Minute {
        sources: forwarded(m, 4),
        gmail: (4, u64::from(m % 25 < 9)),
        rep: u64::from(m % 6 == 0),
    });
    let w = warnings(&events);
    assert_eq!(w.len(), 1, "{events:?}");
    assert_eq!(w[0].subject, Subject::Host);
    let reason = w[0].reasons.iter().find(|r| r.starts_with("Gmail deferring ")).expect("the sustained reason");
    assert!(
        reason.contains(" mails/h for 2.5 h with ") && reason.contains("reputation deferrals per 30 min"),
        "{reason}"
    );
    // Five flagged half hours: after 2.5 h, before the third hour is out.
    let after = (w[0].at_ms - (T0 + 7 * 1440 * MIN)) / MIN;
    assert!((150..=185).contains(&after), "warned after {after} min");
}

#[test]
fn a_campaign_to_a_gmail_heavy_list_rate_limited_for_hours_does_not_warn() {
    // 600/h from one script for 8 hours, 60% to Gmail, which defers 8% of
    // it with 6 4.7.28 per 30 min: every Gmail condition holds, but the
    // campaign's own source carries the surge, and its bounces are normal.
    let events = run(8 * 60, |m| {
        let s = src(SourceKind::Script, "/var/www/vhosts/shop.example/httpdocs/campaign.php", 10, 0, 0, 8, 0);
        Minute { sources: vec![s], gmail: (6, u64::from(m % 25 < 12)), rep: u64::from(m % 5 == 0) }
    });
    assert!(warnings(&events).is_empty(), "{events:?}");
}

#[test]
fn a_forwarded_mailbox_on_a_busy_day_does_not_warn() {
    // The same 240/h forward, Gmail deferring 6% with one 4.7.28 per 30 min:
    // more mail and more deferrals, but Gmail does not call it spam.
    let events = run(8 * 60, |m| Minute {
        sources: forwarded(m, 4),
        gmail: (4, u64::from(m % 25 < 6)),
        rep: u64::from(m % 30 == 0),
    });
    assert!(warnings(&events).is_empty(), "{events:?}");
}

#[test]
fn half_hours_are_judged_when_they_close_and_a_streak_needs_the_latest() {
    let messages = Stat::prior(40.0, 10.0);
    let deferral = Stat::prior(0.017, 0.01);
    let bad = Half { attempts: 115, deferred: 10, reputation: 5, flagged: false, top: 0 };
    assert!(bad.judge(&messages, &deferral));
    // Each condition on its own is not enough.
    assert!(!Half { attempts: 60, ..bad }.judge(&messages, &deferral), "1.5x the mail");
    assert!(!Half { deferred: 4, ..bad }.judge(&messages, &deferral), "3.5% deferred");
    assert!(!Half { reputation: 2, ..bad }.judge(&messages, &deferral), "2 reputation deferrals");
    assert!(
        !Half { attempts: 400, deferred: 40, reputation: 5, flagged: false, top: 0 }.judge(&messages, &deferral),
        "1.25% reputation"
    );

    let mut h = Halves::default();
    let t = T0 + 1;
    let judge = |x: &Half| x.judge(&messages, &deferral);
    for i in 0..=NEEDED as i64 {
        h.roll(t + i * HALF_MS, judge);
        assert!(h.streak().is_none() || i == NEEDED as i64, "streak after {i} half hours");
        h.add(bad.attempts, bad.deferred, bad.reputation);
    }
    h.roll(t + (NEEDED as i64 + 1) * HALF_MS, judge);
    let s = h.streak().expect("six bad half hours");
    assert_eq!((s.halves, s.attempts, s.reputation), (6, 6 * 115, 30));
    // A quiet half hour breaks it at once (the latest must be flagged)...
    h.roll(t + (NEEDED as i64 + 2) * HALF_MS, judge);
    assert!(h.streak().is_none());
    // ...and a silent day forgets it.
    h.add(bad.attempts, bad.deferred, bad.reputation);
    h.roll(t + 60 * HALF_MS, judge);
    assert!(h.streak().is_none() && !h.latest_flagged());
}
