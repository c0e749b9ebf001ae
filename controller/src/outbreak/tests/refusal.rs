//! The refusal rule ([`crate::outbreak::receiver::refusal`]) on recorded
//! series: the replay's seed-45 forward of spam to Gmail, listed 47 minutes
//! after it began, must warn within the half hour; a forwarded mailbox's
//! busy day, a campaign and a reset storm that Gmail defers and bounces,
//! and a forward Gmail only bounces must not.

use rblfleet_proto::v1::{ReceiverStats, SourceKind, SourceStats};

use super::sustained::{Minute, run_bounced};
use super::{MIN, T0, src, warnings};
use crate::outbreak::Subject;
use crate::outbreak::receiver::ReceiverState;
use crate::outbreak::receiver::refusal::{self, MIN_BOUNCED};
use crate::outbreak::signal::Signal;
use crate::outbreak::stat::Stat;

const CAMPAIGN: &str = "/var/www/vhosts/shop.example/httpdocs/campaign.php";
const RESET: &str = "/var/www/vhosts/shop.example/httpdocs/lost-password.php";

/// Minutes after the normal week at which `w` was raised.
fn minutes_in(at_ms: i64) -> i64 {
    (at_ms - (T0 + 7 * 1440 * MIN)) / MIN
}

/// Six forwarded messages a minute from forged senders, all to Gmail (about
/// 12 times the office's usual Gmail mail), `deferred(m)` of them deferred
/// and `bounced(m)` hard-bounced by Gmail, `rep(m)` 4.7.28.
fn forward(
    deferred: impl Fn(i64) -> u64,
    bounced: impl Fn(i64) -> u64,
    rep: impl Fn(i64) -> u64,
) -> impl Fn(i64) -> (Minute, u64) {
    move |m| {
        let (d, b) = (deferred(m), bounced(m));
        let sources: Vec<SourceStats> = (0..6u64)
            .map(|i| {
                let id = format!("f{m}x{i}@forged{i}.example");
                src(SourceKind::Sender, &id, 1, u64::from(i < b), u64::from(i >= b && i < b + d), 1, 0)
            })
            .collect();
        (Minute { sources, gmail: (6, d), rep: rep(m) }, b)
    }
}

#[test]
fn a_fast_forward_of_spam_that_gmail_defers_and_bounces_warns_within_the_half_hour() {
    // Seed 45's forward: 360/h to Gmail (12 times the office's usual Gmail
    // mail; seed 45: 19 times), which defers 10% (usual 1%; seed 45: 9%,
    // usual 1.4%) and bounces 13%, four times the office's usual 3% (seed
    // 45: 7%, four times its 1.8%), with a 4.7.28 every 8 minutes: under
    // the receiver rule's 12%, the reputation rule's 10 deferrals and the
    // bounce rule's strength for the first half hour. Its IP was listed at
    // 47 minutes.
    let events =
        run_bounced(3 * 60, forward(|m| u64::from(m % 5 < 3), |m| u64::from(m % 5 < 4), |m| u64::from(m % 8 == 0)));
    let w = warnings(&events);
    assert_eq!(w.len(), 1, "{events:?}");
    assert_eq!(w[0].subject, Subject::Host);
    let reason = w[0].reasons.iter().find(|r| r.starts_with("Gmail got ")).expect("the refusal reason");
    assert!(reason.contains("none standing out, and refused them: deferred "), "{reason}");
    // Ten bounces take about 13 minutes at 0.8 a minute.
    let after = minutes_in(w[0].at_ms);
    assert!((10..=30).contains(&after), "warned after {after} min");
}

#[test]
fn a_forwarded_mailbox_surging_with_deferrals_and_old_addresses_does_not_warn() {
    // The look-alike: the same 360/h from hundreds of senders for 8 hours,
    // Gmail deferring 10% with a 4.7.28 every 20 min and bouncing 2% (a
    // forward goes to addresses that exist): one count, not two.
    let events =
        run_bounced(8 * 60, forward(|m| u64::from(m % 5 < 3), |m| u64::from(m % 8 == 0), |m| u64::from(m % 20 == 0)));
    assert!(warnings(&events).is_empty(), "{events:?}");
}

#[test]
fn a_forward_that_gmail_bounces_but_does_not_defer_does_not_warn() {
    // Bounces at 10% with Gmail's deferrals at their usual 1%: the second
    // count is missing (a dead forwarding target, not a judgement of spam).
    let events = run_bounced(3 * 60, forward(|m| u64::from(m % 15 == 0), |m| u64::from(m % 5 < 3), |_| 0));
    assert!(warnings(&events).is_empty(), "{events:?}");
}

/// `per_minute` messages a minute of one bulk mailing, 60% of them to
/// Gmail, which defers 8% of its share and bounces 12.5% (
/// 7.5% of the mailing, under `reputation::BULK_BOUNCE`), with `rep`
/// 4.7.28; `carried`: from one script `id`, else from as many forged
/// senders (the same mail, nobody carrying it).
fn mailing(id: &'static str, per_minute: u64, rep: u64, carried: bool) -> impl Fn(i64) -> (Minute, u64) {
    move |m| {
        let gmail = per_minute * 6 / 10;
        let (deferred, bounced) = (gmail / 12, gmail / 12 * (1 + u64::from(m % 2 == 0)));
        let sources = if carried {
            vec![src(SourceKind::Script, id, per_minute, bounced, deferred, 20, 0)]
        } else {
            (0..per_minute)
                .map(|i| {
                    let from = format!("f{m}x{i}@forged{i}.example");
                    let d = u64::from(i >= bounced && i < bounced + deferred);
                    src(SourceKind::Sender, &from, 1, u64::from(i < bounced), d, 1, 0)
                })
                .collect()
        };
        (Minute { sources, gmail: (gmail, deferred), rep }, bounced)
    }
}

#[test]
fn a_campaign_and_a_reset_storm_that_gmail_defers_and_bounces_do_not_warn() {
    // 1,200/h from one script for 6 hours, with 20 4.7.28 per 30 min: every
    // Gmail count holds, but the campaign carries it, and its own 7.5%
    // bounces read as a kept list.
    let campaign = |carried| {
        let mail = mailing(CAMPAIGN, 20, 0, carried);
        move |m: i64| {
            let (mut x, b) = mail(m);
            x.rep = u64::from(m % 3 != 0);
            (x, b)
        }
    };
    let events = run_bounced(6 * 60, campaign(true));
    assert!(warnings(&events).is_empty(), "{events:?}");
    // 2,000 resets in 50 minutes, one 4.7.28 a minute.
    let storm = |carried| {
        let mail = mailing(RESET, 40, 1, carried);
        move |m: i64| if m <= 50 { mail(m) } else { (Minute { sources: Vec::new(), gmail: (0, 0), rep: 0 }, 0) }
    };
    let events = run_bounced(3 * 60, storm(true));
    assert!(warnings(&events).is_empty(), "{events:?}");
    // The control: the same mail from forged senders is refused spam.
    for events in [run_bounced(60, campaign(false)), run_bounced(60, storm(false))] {
        let w = warnings(&events);
        assert_eq!(w.len(), 1, "{events:?}");
        assert!(w[0].reasons.iter().any(|r| r.starts_with("Gmail got ")), "{:?}", w[0].reasons);
    }
}

#[test]
fn the_rule_needs_a_surge_nobody_carries_deferred_and_bounced() {
    // Seed 45 at 31 minutes: Gmail got 170 in 30 min (usual 18/h), deferred
    // 16 (usual 1.4%) and bounced 12; the host usually bounces 1.8%.
    let gmail = |attempts: u64, deferred: u64, bounced: u64| {
        let mut r = ReceiverState::new("google", Stat::prior(0.014, 0.01));
        r.messages = Stat::prior(18.0, 6.0);
        for i in 0..30u64 {
            let share = |n: u64| n * (i + 1) / 30 - n * i / 30;
            // Spread over the 30 minutes; the totals come out exact.
            let (d, b) = (share(deferred), share(bounced));
            let s = ReceiverStats {
                provider: "google".into(),
                sent: share(attempts - deferred - bounced),
                deferred: d,
                bounced: b,
                ..ReceiverStats::default()
            };
            // Six five-minute buckets from T0: the whole 30-minute window.
            r.observe(&s, T0 + i as i64 * MIN);
        }
        r
    };
    let seed45 = gmail(170, 16, 12);
    let f = refusal::refused(&seed45, 0.018, || 8).expect("fires on seed 45's numbers");
    assert!(matches!(f.signal, Signal::Refused { per_hour, .. } if per_hour == 340.0), "{f:?}");
    // One source carrying the surge: its own signals judge it.
    assert!(refusal::refused(&seed45, 0.018, || 120).is_none());
    // The host usually bounces 3%: 7% is not three times that.
    assert!(refusal::refused(&seed45, 0.03, || 8).is_none());
    // Fewer than MIN_BOUNCED bounces, or deferrals at pacing level.
    assert!(refusal::refused(&gmail(170, 16, u64::from(MIN_BOUNCED) - 1), 0.018, || 8).is_none());
    assert!(refusal::refused(&gmail(170, 9, 12), 0.018, || 8).is_none());
    // Not a surge: 40 in 30 min is 80/h, under 5x the usual 18/h.
    assert!(refusal::refused(&gmail(40, 12, 12), 0.018, || 2).is_none());
}
