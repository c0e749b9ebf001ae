#![allow(clippy::unwrap_used)]

use super::*;

fn key(kind: SourceKind, id: &str) -> SourceKey {
    SourceKey { kind, id: id.to_string(), uid: None }
}

fn origin(keys: Vec<SourceKey>) -> Origin {
    Origin { keys, client_ip: None }
}

fn attempt<'a>(to: &'a str, status: DeliveryStatus, reply: &'a str) -> Attempt<'a> {
    Attempt { ts_ms: Some(1_000), to, status, reply, new_message: true, new_recipient: true }
}

const ZEN: &str = "554 5.7.1 Service unavailable; Client host [203.0.113.5] blocked using zen.spamhaus.org";

#[test]
fn a_full_source_table_keeps_the_suspicious_half() {
    let limits = Limits { max_sources: 4, ..Limits::default() };
    let mut agg = Aggregator::new(limits);
    let bad = origin(vec![key(SourceKind::SaslUser, "hijacked@x.example")]);
    for _ in 0..30 {
        agg.delivery(&attempt("v@y.example", DeliveryStatus::Bounced, ZEN), Some(&bad));
    }
    for i in 0..10 {
        let clean = origin(vec![key(SourceKind::Sender, &format!("clean{i}@x.example"))]);
        agg.delivery(&attempt("v@y.example", DeliveryStatus::Sent, "250 OK"), Some(&clean));
    }
    assert!(agg.source_count() <= 4);
    assert!(agg.sources_dropped > 0);
    let ranked = agg.ranked(&UserMap::default(), 1);
    assert_eq!(ranked[0].key.id, "hijacked@x.example");
    assert_eq!(ranked[0].figures.blocklisted, 30);
}

#[test]
fn take_starts_a_new_period() {
    let mut agg = Aggregator::new(Limits::default());
    let o = origin(vec![key(SourceKind::Sender, "a@x.example")]);
    agg.delivery(&attempt("v@y.example", DeliveryStatus::Deferred, ZEN), Some(&o));
    let period = agg.take();
    assert_eq!(period.totals().deferred, 1);
    assert_eq!(period.totals().blocklisted, 1);
    assert_eq!(period.evidence(10).len(), 1);
    assert_eq!(agg.totals(), DeliveryTotals::default());
    assert_eq!((agg.source_count(), agg.evidence(10).len()), (0, 0));
}

#[test]
fn the_wire_form_carries_every_figure() {
    let mut agg = Aggregator::new(Limits::default());
    let o = Origin {
        keys: vec![
            SourceKey { kind: SourceKind::LocalUser, id: "10023".into(), uid: Some(10023) },
            SourceKey { kind: SourceKind::Script, id: "mailer.php".into(), uid: Some(10023) },
        ],
        client_ip: None,
    };
    agg.delivery(&attempt("v@y.example", DeliveryStatus::Bounced, ZEN), Some(&o));
    let users = UserMap::from_passwd("shop:x:10023:1::/var/www/vhosts/shop.example:/bin/false\n");
    let ranked = agg.ranked(&users, 10);
    let proto = ranked.iter().find(|s| s.key.kind == SourceKind::LocalUser).unwrap().to_proto();
    assert_eq!(proto.kind, SourceKind::LocalUser as i32);
    assert_eq!((proto.id.as_str(), proto.uid, proto.subscription.as_str()), ("10023", Some(10023), "shop.example"));
    assert_eq!((proto.messages, proto.recipients, proto.recipient_domains), (1, 1, 1));
    assert_eq!((proto.bounced, proto.blocklisted), (1, 1));
    assert_eq!(proto.scripts, ["mailer.php"]);
    assert_eq!((proto.first_seen_ms, proto.last_seen_ms), (1_000, 1_000));
    assert!(proto.suspicion > 0.0);
    assert_eq!(proto.reasons[0], "100% of its deliveries were refused by blocklists");
}

#[test]
fn unattributed_deliveries_count_in_totals_only() {
    let mut agg = Aggregator::new(Limits::default());
    agg.delivery(&attempt("v@y.example", DeliveryStatus::Sent, "250 OK"), None);
    assert_eq!(agg.totals().sent, 1);
    assert_eq!(agg.source_count(), 0);
}

#[test]
fn deliveries_are_counted_per_big_receiver() {
    let mut agg = Aggregator::new(Limits::default());
    let refusal = "host outlook-com.olc.protection.outlook.com[198.51.100.40] said: 550 5.7.1 Unfortunately, \
                   messages from [203.0.113.5] weren't sent. Please contact your Internet service provider since part \
                   of their network is on our block list (S3140). (in reply to MAIL FROM command)";
    agg.delivery(&attempt("a@outlook.com", DeliveryStatus::Sent, "250 ok"), None);
    agg.delivery(&attempt("b@hotmail.co.uk", DeliveryStatus::Bounced, refusal), None);
    agg.delivery(&attempt("c@gmail.com", DeliveryStatus::Sent, "250 ok"), None);
    agg.delivery(&attempt("d@shop.example", DeliveryStatus::Sent, "250 ok"), None);
    let receivers = agg.receivers();
    let by = |p: &str| receivers.iter().find(|r| r.provider == p).cloned().unwrap_or_default();
    assert_eq!((by("microsoft").sent, by("microsoft").bounced, by("microsoft").blocklisted), (1, 1, 1));
    assert_eq!(by("google").sent, 1);
    assert_eq!(receivers.len(), 2, "shop.example is nobody's big receiver");
    assert!(agg.take().receivers().len() == 2 && agg.receivers().is_empty(), "a new period starts empty");
}

proptest::proptest! {
    /// `domain_of` is what `rsplit_once('@')` gave: the text after the last
    /// `@`, if not empty (addresses with several `@`, none, multi-byte text).
    #[test]
    fn the_domain_is_what_rsplit_once_gives(address in "[a@.é\\-]{0,16}") {
        let plain = address.rsplit_once('@').map(|(_, d)| d).filter(|d| !d.is_empty());
        proptest::prop_assert_eq!(domain_of(&address), plain);
    }
}
