//! Ranking suspects on made-up but realistic hosts: a hijacked mailbox, a PHP
//! mailer dropped on a blog, a big steady newsletter, and the quiet rest.

#![allow(clippy::unwrap_used)]

use std::collections::BTreeSet;

use rblfleet_proto::v1::{SourceKind, SourceStats, Suspect};

use super::*;

/// The listing's first seen (not on an hour boundary, on purpose).
const F: i64 = 1_700_000_123_456;
const NOW: i64 = F + 2 * HOUR_MS + 1;
const MAILBOX: &str = "info@shop.example";
const SCRIPT: &str = "/var/www/vhosts/blog.example/httpdocs/wp-content/uploads/x.php";

/// One host's hours from 8 days before the first seen to 2 h after; `at`
/// gets each hour's offset from the first seen's hour (-192 ..= 2).
fn host(id: &str, reports: u64, at: impl Fn(i64) -> Vec<SourceStats>) -> Vec<(String, i64, u64, Vec<SourceStats>)> {
    let base = hour_floor(F);
    (-192..=2).map(|h| (id.to_string(), base + h * HOUR_MS, reports, at(h))).collect()
}

fn view(data: &[(String, i64, u64, Vec<SourceStats>)]) -> Vec<HostHour<'_>> {
    data.iter()
        .map(|(host_id, hour_ms, reports, sources)| HostHour { host_id, hour_ms: *hour_ms, reports: *reports, sources })
        .collect()
}

fn src(kind: SourceKind, id: &str, messages: u64) -> SourceStats {
    SourceStats {
        kind: kind as i32,
        id: id.into(),
        messages,
        recipients: messages,
        sent: messages,
        recipient_domains: messages.min(2),
        ..SourceStats::default()
    }
}

/// web1: info@ is hijacked 6 h before the listing; bob@ is a normal mailbox.
fn web1(h: i64) -> Vec<SourceStats> {
    let mut info = src(SourceKind::SaslUser, MAILBOX, 2);
    info.client_ips = 1;
    info.subscription = "shop.example".into();
    if h >= -6 {
        info.messages = 400;
        info.recipients = 400;
        info.sent = 230;
        info.bounced = 170;
        info.blocklisted = 152;
        info.recipient_domains = 90;
        info.client_ips = 40;
    }
    let mut bob = src(SourceKind::SaslUser, "bob@shop.example", 3);
    bob.client_ips = 1;
    vec![info, bob]
}

/// web2: a PHP mailer appears 3 h before the listing; wp-cron is steady.
fn web2(h: i64) -> Vec<SourceStats> {
    let mut out = vec![src(SourceKind::LocalUser, "10012", 5)];
    out[0].uid = Some(10012);
    out[0].subscription = "blog.example".into();
    if h >= -3 {
        let mut x = src(SourceKind::Script, SCRIPT, 150);
        x.uid = Some(10012);
        x.subscription = "blog.example".into();
        x.sent = 90;
        x.bounced = 60;
        x.blocklisted = 30;
        x.recipient_domains = 35;
        x.first_seen_ms = F - 3 * HOUR_MS + 600_000;
        out.push(x);
    }
    out
}

/// web3: a big newsletter, steady for a week; once the IP is listed it
/// collects a few refusals like everyone else. An old spammer stopped days ago.
fn web3(h: i64) -> Vec<SourceStats> {
    let mut news = src(SourceKind::SaslUser, "news@big.example", 5000);
    news.bounced = 100;
    news.sent = 4900;
    news.recipient_domains = 100;
    news.client_ips = 1;
    news.suspicion = 0.2;
    news.reasons = vec!["largest sender on the host".into()];
    if h >= 0 {
        news.blocklisted = 250;
        news.bounced = 350;
        news.sent = 4650;
    }
    let mut out = vec![news];
    if h < -40 {
        let mut old = src(SourceKind::SaslUser, "old@big.example", 300);
        old.blocklisted = 200;
        old.client_ips = 50;
        out.push(old);
    }
    out
}

fn scenario() -> Vec<Suspect> {
    let data: Vec<_> = [host("web1", 4, web1), host("web2", 4, web2), host("web3", 12, web3)].concat();
    rank(&view(&data), F, NOW)
}

fn find<'a>(suspects: &'a [Suspect], id: &str) -> Option<&'a Suspect> {
    suspects.iter().find(|s| s.id == id)
}

#[test]
fn the_hijacked_mailbox_and_the_php_mailer_rank_on_top() {
    let suspects = scenario();
    let order: Vec<(&str, &str, f64)> = suspects.iter().map(|s| (s.host_id.as_str(), s.id.as_str(), s.score)).collect();
    assert_eq!(order.len(), 3, "{order:?}");
    assert_eq!((order[0].0, order[0].1), ("web1", MAILBOX), "{order:?}");
    assert_eq!((order[1].0, order[1].1), ("web2", SCRIPT), "{order:?}");
    assert_eq!(order[2].1, "news@big.example", "{order:?}");
    assert!(order[1].2 > 4.0 * order[2].2, "the newsletter is far behind: {order:?}");
}

#[test]
fn the_mailbox_has_its_reasons_in_plain_words() {
    let suspects = scenario();
    let s = find(&suspects, MAILBOX).unwrap();
    assert_eq!(s.kind, SourceKind::SaslUser as i32);
    assert_eq!((s.messages, s.blocklisted, s.recipient_domains, s.client_ips), (9 * 400 + 18 * 2, 9 * 152, 90, 40));
    assert_eq!(s.subscription, "shop.example");
    let r = &s.reasons;
    assert_eq!(
        r[0],
        "38% of its 3636 deliveries from 24 h before the listing to 2 h after were refused by blocklists \
         (1368 refusals)"
    );
    assert!(r.contains(&"logged in from 40 different IPs within one report".to_string()), "{r:?}");
    assert!(r.contains(&"sent to 90 recipient domains within one report (about 100 recipients)".to_string()), "{r:?}");
    assert!(
        r.contains(
            &"sent 67× its usual hourly volume (135/h around the listing against 2.0/h in the 7 days before)"
                .to_string()
        ),
        "{r:?}"
    );
}

#[test]
fn the_php_mailer_is_a_new_script_and_a_new_sender() {
    let suspects = scenario();
    let s = find(&suspects, SCRIPT).unwrap();
    assert_eq!(
        (s.uid, s.subscription.as_str(), s.scripts.clone()),
        (Some(10012), "blog.example", vec![SCRIPT.to_string()])
    );
    let r = &s.reasons;
    assert!(r.contains(&format!("new script {SCRIPT} first seen 3 h before the listing")), "{r:?}");
    assert!(
        r.contains(
            &"new sender: nothing from it in the 7 days before, then 900 messages around the listing".to_string()
        ),
        "{r:?}"
    );
    assert!(r.contains(&"20% of its deliveries bounced (180 bounces, blocklist refusals aside)".to_string()), "{r:?}");
    assert!(r[0].starts_with("20% of its 900 deliveries"), "blocklist refusals come first: {r:?}");
}

#[test]
fn the_newsletter_is_low_and_says_why_it_is_there_at_all() {
    let suspects = scenario();
    let s = find(&suspects, "news@big.example").unwrap();
    assert!(s.score < 10.0, "{}", s.score);
    assert!(s.reasons[0].starts_with("1% of its 135000 deliveries"), "{:?}", s.reasons);
    assert_eq!(s.reasons.last().unwrap(), "agent: largest sender on the host");
    assert!(
        !s.reasons.iter().any(|r| r.contains("usual hourly volume") || r.contains("new sender")),
        "{:?}",
        s.reasons
    );
}

#[test]
fn quiet_or_normal_sources_are_not_suspects() {
    let suspects = scenario();
    assert!(find(&suspects, "old@big.example").is_none(), "no activity in the window");
    assert!(find(&suspects, "bob@shop.example").is_none(), "a normal mailbox");
    assert!(find(&suspects, "10012").is_none(), "a steady cron job");
}

#[test]
fn baseline_comparison_needs_a_baseline() {
    // Same mailbox, three histories: usual 10/h, none (new), and a host that was not reporting.
    let steady = |usual: u64| {
        move |h: i64| {
            let mut s = src(SourceKind::SaslUser, "a@x.example", if h >= -24 { 140 } else { usual });
            s.blocklisted = if h >= -24 { 20 } else { 0 };
            vec![s]
        }
    };
    let usual = host("h1", 1, steady(10));
    let s = &rank(&view(&usual), F, NOW)[0];
    assert!(s.reasons.iter().any(|r| r.starts_with("sent 14× its usual hourly volume (140/h")), "{:?}", s.reasons);

    let new = host("h2", 1, steady(0));
    let s = &rank(&view(&new), F, NOW)[0];
    assert!(
        s.reasons.iter().any(|r| r.starts_with("new sender: nothing from it in the 7 days before")),
        "{:?}",
        s.reasons
    );

    let unreporting: Vec<_> =
        host("h3", 1, steady(0)).into_iter().filter(|(_, hour, _, _)| *hour >= hour_floor(F - BEFORE_MS)).collect();
    let s = &rank(&view(&unreporting), F, NOW)[0];
    assert!(!s.reasons.iter().any(|r| r.contains("new sender") || r.contains("usual")), "{:?}", s.reasons);
}

#[test]
fn a_known_script_is_not_new() {
    let data = host("web9", 1, |h| {
        let mut s = src(SourceKind::Script, "/var/www/vhosts/a.example/httpdocs/contact.php", 30);
        s.blocklisted = if h >= -2 { 10 } else { 0 };
        vec![s]
    });
    let s = &rank(&view(&data), F, NOW)[0];
    assert!(!s.reasons.iter().any(|r| r.starts_with("new script")), "{:?}", s.reasons);
}

#[test]
fn hours_outside_both_periods_are_ignored() {
    let data = host("web1", 4, web1);
    let later: Vec<_> = data.iter().map(|(h, t, r, s)| (h.clone(), t + 10 * HOUR_MS, *r, s.clone())).collect();
    // Shifted 10 h later, the burst falls after the window: nothing around the listing stands out.
    let suspects = rank(&view(&later), F - 30 * HOUR_MS, NOW);
    assert!(suspects.is_empty(), "{suspects:?}");
}

#[test]
fn hints_name_the_source_itself() {
    let suspects = scenario();
    let mailbox = find(&suspects, MAILBOX).unwrap();
    assert!(mailbox.hints[0].contains(&format!("plesk bin mail --update {MAILBOX} -passwd ''")), "{:?}", mailbox.hints);
    assert!(
        mailbox
            .hints
            .iter()
            .any(|h| h.contains(&format!("grep -F sasl_username={MAILBOX} /usr/local/psa/var/log/maillog")))
    );
    assert!(mailbox.hints.iter().any(|h| h.contains(&format!("plesk bin autoresponder --info -mail {MAILBOX}"))));

    let script = find(&suspects, SCRIPT).unwrap();
    assert!(script.hints[0].starts_with(&format!("Inspect {SCRIPT}")), "{:?}", script.hints);
    assert!(
        script.hints.iter().any(|h| h.contains("find /var/www/vhosts/blog.example/ -type f -name '*.php' -mtime -7"))
    );
    assert!(script.hints.iter().any(|h| h.contains("Subscriptions > blog.example > Outgoing Mail Limits")));
    assert!(script.hints.iter().any(|h| h.contains("`getent passwd 10012`")));
}

fn one(kind: SourceKind, id: &str) -> Suspect {
    Suspect { kind: kind as i32, id: id.into(), ..Suspect::default() }
}

#[test]
fn a_bare_script_name_is_searched_for_under_its_subscription() {
    let mut s = one(SourceKind::Script, "x.php");
    s.subscription = "shop.example".into();
    let h = hints(&s, &BTreeSet::new());
    assert!(h[0].contains("find /var/www/vhosts/shop.example/ -name x.php -type f -ls"), "{h:?}");
}

#[test]
fn local_users_get_their_crontab_and_subscription() {
    let mut s = one(SourceKind::LocalUser, "10012");
    s.uid = Some(10012);
    s.subscription = "blog.example".into();
    let h = hints(&s, &BTreeSet::new());
    assert!(h[0].contains("subscription blog.example"), "{h:?}");
    assert!(h.iter().any(|x| x.contains("crontab -l -u \"$(getent passwd 10012 | cut -d: -f1)\"")), "{h:?}");
    assert!(h.iter().any(|x| x.contains("Subscriptions > blog.example > Outgoing Mail Limits")), "{h:?}");
}

#[test]
fn senders_are_told_apart_by_whether_their_domain_is_hosted() {
    let hosted: BTreeSet<String> = ["shop.example".to_string()].into();
    let local = hints(&one(SourceKind::Sender, "promo@shop.example"), &hosted);
    assert!(local[0].contains("grep -F 'from=<promo@shop.example>'"), "{local:?}");
    assert!(local[1].starts_with("shop.example is hosted here"), "{local:?}");
    let foreign = hints(&one(SourceKind::Sender, "ceo@bank.example"), &hosted);
    assert!(
        foreign[1].contains("does not look hosted on this server") && foreign[1].contains("backscatter"),
        "{foreign:?}"
    );
    let null = hints(&one(SourceKind::Sender, "<>"), &hosted);
    assert!(null[0].starts_with("These are bounces the server generated"), "{null:?}");
}

#[test]
fn hostile_names_cannot_break_out_of_the_commands() {
    let s = one(SourceKind::Script, "/var/www/vhosts/a.example/x';rm -rf ~;'.php\n\u{1b}[2J");
    let h = hints(&s, &BTreeSet::new());
    assert!(h[0].contains(r"`ls -l '/var/www/vhosts/a.example/x'\'';rm -rf ~;'\''.php??[2J'`"), "{h:?}");
    assert!(h.iter().all(|x| !x.chars().any(char::is_control)), "{h:?}");
}
