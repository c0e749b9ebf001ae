//! Peaks learned only once confirmed, and the mailbox's one-off mailing
//! against a hijack: the two changes the replay's seed 16 (a missed hijack)
//! and seed 17 (an old contact list warned) asked for.

use super::super::stat::Stat;
use super::*;

#[test]
fn update_level_learns_the_level_and_leaves_the_peak_to_confirmation() {
    let mut s = Stat::prior(1.0, 1.0);
    for _ in 0..50 {
        s.update_level(1.0);
    }
    s.update_level(5.0);
    assert!(s.peak <= 1.0, "an unconfirmed hour must not raise the peak: {s:?}");
    assert!(s.level > 1.0 && s.level < 1.2, "the level learns it, a little: {s:?}");
}

#[test]
fn a_hijack_starting_late_in_an_hour_does_not_teach_its_own_client_ips() {
    // The replay's seed-16 miss, in small: office@ logs in from one place.
    // At 00:55 a hijacker starts from 2 IPs (nothing fires yet: 2x the
    // usual), then from 5 IPs at 5 messages a minute, few bounces. If the
    // 00:00 hour taught the peak (2 IPs) and the 01:00 hour its 300
    // messages, neither logins nor volume would ever fire again.
    let mut state = HostState::new("web01.example");
    let events = run(&mut state, 4 * 60, |m| {
        let ips = if m < 55 {
            return (Vec::new(), 5, 0);
        } else if m < 60 {
            2
        } else {
            5
        };
        (vec![src(SourceKind::SaslUser, "office@shop.example", 5, u64::from(m % 15 == 0), 0, 4, ips)], 5, 0)
    });
    let w = warnings(&events);
    assert_eq!(w.len(), 1, "{events:?}");
    assert!(w[0].reasons.iter().any(|r| r.contains("client IPs")), "{:?}", w[0].reasons);
    let after = (w[0].at_ms - (T0 + 7 * 1440 * MIN)) / MIN;
    assert!(after <= 55 + 30, "warned {after} min after midnight, the hijack began at 55");
}

#[test]
fn a_legitimate_burst_raises_the_peak_once_a_quiet_hour_follows() {
    let mut state = HostState::new("web01.example");
    let id = "office@shop.example";
    // Monday 00:00-01:00: 236 messages, 1% bounces (the volume signal fires,
    // nothing else); then one message every 10 minutes. The 01:00 hour still
    // sees the burst in its window; the 02:00 hour is quiet and confirms it.
    run(&mut state, 4 * 60, |m| {
        let v = if m < 60 {
            vec![src(SourceKind::SaslUser, id, 4, u64::from(m % 25 == 0), 0, 3, 1)]
        } else if m % 10 == 0 {
            vec![src(SourceKind::SaslUser, id, 1, 0, 0, 1, 1)]
        } else {
            Vec::new()
        };
        (v, 5, 0)
    });
    let peak = state.sources().iter().find(|s| s.id == id).map(|s| s.baseline.messages.peak);
    assert!(peak.is_some_and(|p| p >= 200.0), "the burst is learned after a quiet hour: {peak:?}");
}

#[test]
fn a_mailbox_mailing_its_old_contact_list_does_not_warn_but_a_hijack_that_lasts_does() {
    // 400 messages in 15 minutes from the usual single login, 18% bouncing:
    // a person's one-off mailing, not a reason to wake anyone.
    let mut state = HostState::new("web01.example");
    let events = run(&mut state, 3 * 60, |m| {
        let v =
            if m <= 15 { vec![src(SourceKind::SaslUser, "office@shop.example", 27, 5, 1, 12, 1)] } else { Vec::new() };
        (v, 8, 0)
    });
    assert!(warnings(&events).is_empty(), "contact list: {events:?}");

    // The same mailbox hijacked from one VPS: 14 a minute (840/h, under
    // MIN_MESSAGES_MAILBOX in 30 min), 15% bouncing, for hours.
    let mut state = HostState::new("web01.example");
    let events =
        run(&mut state, 4 * 60, |_| (vec![src(SourceKind::SaslUser, "office@shop.example", 14, 2, 1, 10, 2)], 8, 0));
    let w = warnings(&events);
    assert_eq!(w.len(), 1, "{events:?}");
    assert!(matches!(&w[0].subject, Subject::Source { id, .. } if id == "office@shop.example"), "{:?}", w[0].subject);
    let after = (w[0].at_ms - (T0 + 7 * 1440 * MIN)) / MIN;
    assert!((120..=150).contains(&after), "a lasting small anomaly warns after SUSTAIN_MS: {after} min");
}

#[test]
fn a_script_at_the_same_volume_and_bounces_warns_at_once() {
    // What a person may do once, a script on a site does not: the same 400
    // messages with 18% bounces from a PHP script warn within minutes.
    let mut state = HostState::new("web01.example");
    let script = "/var/www/vhosts/shop.example/httpdocs/wp-content/uploads/x.php";
    let events = run(&mut state, 60, |m| {
        (if m <= 15 { vec![src(SourceKind::Script, script, 27, 5, 1, 12, 0)] } else { Vec::new() }, 8, 0)
    });
    let w = warnings(&events);
    assert_eq!(w.len(), 1, "{events:?}");
    assert!(w[0].at_ms <= T0 + (7 * 1440 + 15) * MIN, "warned while it was sending");
}

#[test]
fn backscatter_with_a_third_of_its_mail_bouncing_warns_before_300_messages() {
    // MAILER-DAEMON sending 7 DSNs a minute (210 in 30 min), 40% bouncing:
    // forged senders. Under MIN_MESSAGES, but over SEVERE_BOUNCE.
    let mut state = HostState::new("web01.example");
    let events = run(&mut state, 60, |_| (vec![src(SourceKind::Sender, "MAILER-DAEMON", 7, 3, 1, 6, 0)], 8, 0));
    let w = warnings(&events);
    assert_eq!(w.len(), 1, "{events:?}");
    assert!(matches!(&w[0].subject, Subject::Source { id, .. } if id == "MAILER-DAEMON"), "{:?}", w[0].subject);
    let after = (w[0].at_ms - (T0 + 7 * 1440 * MIN)) / MIN;
    assert!(after <= 20, "warned after {after} min");

    // A password-reset storm of the same size bouncing 5%: no warning.
    let mut state = HostState::new("web01.example");
    let reset = "/var/www/vhosts/shop.example/httpdocs/reset-password.php";
    let events =
        run(&mut state, 60, |m| (vec![src(SourceKind::Script, reset, 7, u64::from(m % 3 == 0), 0, 6, 0)], 8, 0));
    assert!(warnings(&events).is_empty(), "{events:?}");
}
