//! A throttled legitimate bulk sender told from spam ([`crate::outbreak::reputation`]):
//! the replay's look-alikes (a campaign to a Gmail-heavy list and a
//! password-reset storm, both rate-limited with 4.7.28; a forwarded
//! mailbox's surge) must not warn; spam with the same reputation deferrals
//! from a script that bounces, from a mailbox, or refused at a larger share
//! must.

use rblfleet_proto::v1::SourceKind;

use super::src;
use super::sustained::{Minute, forwarded, run};
use crate::outbreak::reputation::{self, BULK_SHARE, Bulk, SHARE};
use crate::outbreak::signal::Signal;
use crate::outbreak::stat::Counts;
use crate::outbreak::{Event, Subject, Warning};

const CAMPAIGN: &str = "/var/www/vhosts/shop.example/httpdocs/campaign.php";
const RESET: &str = "/var/www/vhosts/shop.example/httpdocs/lost-password.php";

fn warnings(events: &[Event]) -> Vec<&Warning> {
    super::warnings(events)
}

/// `per_minute` messages from `id` (`kind`), 60% of them to Gmail, which
/// defers one a minute; `bounced(m)` hard bounces and `rep(m)` 4.7.28
/// deferrals in minute `m`.
fn bulk(
    kind: SourceKind,
    id: &'static str,
    per_minute: u64,
    bounced: impl Fn(i64) -> u64,
    rep: impl Fn(i64) -> u64,
) -> impl Fn(i64) -> Minute {
    move |m| {
        let b = bounced(m);
        Minute {
            sources: vec![src(kind, id, per_minute, b, 1, per_minute.min(20), 0)],
            gmail: (per_minute * 6 / 10, 1),
            rep: rep(m),
        }
    }
}

#[test]
fn a_campaign_rate_limited_by_gmail_for_hours_does_not_warn_nor_after_it_ends() {
    // 1,200/h for 6 h 10 min from a new script, 1% bounces, Gmail deferring
    // 8% of its share with 20 4.7.28 per 30 min (3.3% of the campaign: over
    // the plain rule's 10 and 2%), then three quiet hours: the streak the
    // campaign left at Gmail outlives the campaign's last 30 minutes.
    let campaign = bulk(SourceKind::Script, CAMPAIGN, 20, |m| u64::from(m % 5 == 0), |m| u64::from(m % 3 != 0));
    let events =
        run(9 * 60, |m| if m <= 370 { campaign(m) } else { Minute { sources: Vec::new(), gmail: (0, 0), rep: 0 } });
    assert!(warnings(&events).is_empty(), "{events:?}");
}

#[test]
fn a_password_reset_storm_to_gmail_customers_does_not_warn() {
    // 2,000 resets in 50 minutes, 2% bounces, 30 4.7.28 per 30 min (2.5%).
    let storm = bulk(SourceKind::Script, RESET, 40, |m| u64::from(m % 5 != 0), |_| 1);
    let events =
        run(3 * 60, |m| if m <= 50 { storm(m) } else { Minute { sources: Vec::new(), gmail: (0, 0), rep: 0 } });
    assert!(warnings(&events).is_empty(), "{events:?}");
}

#[test]
fn a_daily_forward_surging_to_gmail_does_not_warn() {
    // A forwarded mailbox at 8x its usual for 8 hours: 360/h from hundreds
    // of envelope senders, Gmail deferring 8% with a 4.7.28 every 20 min.
    let events = run(8 * 60, |m| Minute {
        sources: forwarded(m, 6),
        gmail: (6, u64::from(m % 25 < 12)),
        rep: u64::from(m % 20 == 0),
    });
    assert!(warnings(&events).is_empty(), "{events:?}");
}

#[test]
fn spam_with_the_same_reputation_deferrals_still_warns_at_once() {
    // A PHP mailer as big as the campaign with 10% bounces: not a kept list.
    let php = bulk(SourceKind::Script, CAMPAIGN, 20, |_| 2, |m| u64::from(m % 3 != 0));
    let w = run(60, php);
    let w = warnings(&w);
    assert_eq!(w.len(), 1, "{w:?}");
    assert!(matches!(&w[0].subject, Subject::Source { id, .. } if id == CAMPAIGN), "{:?}", w[0].subject);
    assert!(w[0].reasons.iter().any(|r| r.contains("Gmail 4.7.28 reputation deferrals")), "{:?}", w[0].reasons);

    // A mailbox mailing as much with 1% bounces: a person is no bulk sender.
    let mailbox =
        bulk(SourceKind::SaslUser, "office@shop.example", 20, |m| u64::from(m % 5 == 0), |m| u64::from(m % 3 != 0));
    let events = run(60, mailbox);
    assert_eq!(warnings(&events).len(), 1, "{events:?}");

    // The campaign's script and bounces, but Gmail refusing 8% of it for
    // reputation (48 in 600): refused, not paced.
    let refused = bulk(SourceKind::Script, CAMPAIGN, 20, |m| u64::from(m % 5 == 0), |m| if m % 5 < 3 { 2 } else { 1 });
    let events = run(60, refused);
    assert_eq!(warnings(&events).len(), 1, "{events:?}");
}

#[test]
fn the_reputation_rule_asks_a_clean_bulk_carrier_for_a_larger_share() {
    let w = Counts { reports: 30, messages: 600, attempts: 600, deferred: 40, reputation: 20, ..Counts::default() };
    let labels = || "Gmail 4.7.28".to_owned();
    // Nobody carries it (a forward from forged senders): 20 of 600 warns.
    let f = reputation::host_signal(&w, 0.0, labels, || None).expect("fires without a carrier");
    assert!(matches!(f.signal, Signal::Reputation { now: 20, .. }), "{f:?}");
    assert!(20.0 >= SHARE * 600.0 && reputation::paced(20, 600) && !reputation::paced(48, 600));
    assert!(BULK_SHARE * 600.0 <= 30.0 && reputation::paced(30, 600), "chance above the share is pacing too");
    // A clean bulk source carries it: 20 of its 600 is pacing.
    let carrier = || Some(Bulk { id: CAMPAIGN.into(), recent: w });
    assert!(reputation::host_signal(&w, 0.0, labels, carrier).is_none());
    // 48 of its 600 is refusal.
    let w48 = Counts { reputation: 48, ..w };
    assert!(reputation::host_signal(&w48, 0.0, labels, || Some(Bulk { id: CAMPAIGN.into(), recent: w48 })).is_some());
    // Under the plain floor nothing asks for the carrier at all.
    let few = Counts { reputation: 9, ..w };
    assert!(reputation::host_signal(&few, 0.0, labels, || panic!("not looked at")).is_none());
}
