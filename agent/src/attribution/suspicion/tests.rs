use super::*;

fn newsletter() -> Figures {
    // 20,000 messages to 20,000 subscribers at 15,000 companies (a B2B list:
    // as spread out as spam), 0.5 % hard bounces, 1.5 % greylisting, one IP.
    Figures {
        messages: 20_000,
        recipients: 20_000,
        recipient_domains: 15_000,
        domains_capped: false,
        sent: 19_900,
        deferred: 300,
        bounced: 100,
        client_ips: 1,
        first_seen_ms: 1_000,
        last_seen_ms: 1_000 + 4 * 3_600_000,
        ..Figures::default()
    }
}

fn hijacked_mailbox() -> Figures {
    // 300 messages to 250 domains from 40 IPs, 30 % refused by blocklists.
    Figures {
        messages: 300,
        recipients: 300,
        recipient_domains: 250,
        sent: 190,
        bounced: 110,
        blocklisted: 90,
        client_ips: 40,
        first_seen_ms: 1_000,
        last_seen_ms: 1_000 + 4 * 3_600_000,
        ..Figures::default()
    }
}

fn php_mailer() -> Figures {
    // 500 messages, 20 % bounced, to a handful of domains only.
    Figures { messages: 500, recipients: 500, recipient_domains: 5, sent: 400, bounced: 100, ..Figures::default() }
}

#[test]
fn a_clean_newsletter_ranks_below_a_hijacked_mailbox_and_a_bouncing_php_mailer() {
    let (n, h, p) = (score(&newsletter()), score(&hijacked_mailbox()), score(&php_mailer()));
    assert!(h.score > p.score && p.score > n.score, "hijacked {h:?}, php {p:?}, newsletter {n:?}");
    assert!(n.score < 2.0, "{n:?}");
    assert!(n.reasons.is_empty(), "nothing abnormal about the newsletter: {:?}", n.reasons);
}

#[test]
fn reasons_are_plain_words() {
    let h = score(&hijacked_mailbox());
    assert_eq!(
        h.reasons,
        [
            "30% of its deliveries were refused by blocklists",
            "logged in from 40 IPs",
            "250 recipient domains in 4 h",
            "37% of its deliveries bounced",
        ]
    );
    let p = score(&php_mailer());
    assert_eq!(p.reasons, ["20% of its deliveries bounced"]);
}

#[test]
fn one_bounce_is_not_a_pattern() {
    let single = Figures { messages: 1, recipients: 1, recipient_domains: 1, bounced: 1, ..Figures::default() };
    let s = score(&single);
    assert!(s.score < score(&php_mailer()).score, "{s:?}");
}

#[test]
fn saturated_counts_say_at_least() {
    let f = Figures { client_ips: 10_000, ips_capped: true, ..hijacked_mailbox() };
    assert!(score(&f).reasons.contains(&"logged in from at least 10000 IPs".to_string()));
}

#[test]
fn nothing_sent_scores_zero_and_stays_finite() {
    let s = score(&Figures::default());
    assert_eq!(s.score, 0.0);
    assert!(s.reasons.is_empty());
}

#[test]
fn spans_read_naturally() {
    assert_eq!(span(0), "1 s");
    assert_eq!(span(59_000), "59 s");
    assert_eq!(span(35 * 60_000), "35 min");
    assert_eq!(span(4 * 3_600_000 + 59 * 60_000), "4 h");
    assert_eq!(span(3 * 86_400_000), "3 days");
}
