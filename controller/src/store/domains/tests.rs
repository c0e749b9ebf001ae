#![allow(clippy::unwrap_used)]

use rblfleet_proto::v1::{AgentInfo, HostDomain, HostDomains, HostReport, NamedCount};

use crate::store::backends::backends;

fn report(host: &str, seq: u64) -> HostReport {
    HostReport {
        host_id: host.into(),
        epoch: 1,
        seq,
        period_start_ms: 1,
        period_end_ms: 2,
        agent: Some(AgentInfo { version: "0.1.0".into(), ..Default::default() }),
        ..Default::default()
    }
}

fn domain(name: &str, subscription: &str) -> HostDomain {
    HostDomain { name: name.into(), subscription: subscription.into(), mail: true, ..Default::default() }
}

fn sent(name: &str, count: u64) -> NamedCount {
    NamedCount { name: name.into(), count }
}

fn registrable(name: &str) -> String {
    crate::catalog::registrable(name)
}

#[tokio::test]
async fn a_report_without_the_list_keeps_the_last_one_and_senders_add_up() {
    for backing in backends("store::domains::tests::a_report_without_the_list_keeps_the_last_one_and_senders_add_up") {
        let store = backing.open();
        let generation = store.domains_generation();

        let mut first = report("web1", 1);
        first.domains = Some(HostDomains {
            domains: vec![
                domain("shop.example", "shop"),
                domain("mail.shop.example", "shop"),
                domain("blog.example", ""),
            ],
            ..Default::default()
        });
        first.sender_domains = vec![sent("shop.example", 40)];
        store.apply_report(&first, 100).await.unwrap();
        assert!(store.domains_generation() > generation, "the engine must see the new domains");

        // The next report carries no list (unchanged) and the same sender domain.
        let mut second = report("web1", 2);
        second.sender_domains = vec![sent("shop.example", 2)];
        let generation = store.domains_generation();
        store.apply_report(&second, 200).await.unwrap();
        assert_eq!(store.domains_generation(), generation, "nothing the engine watches changed");
        assert_eq!(store.host_domains("web1").unwrap().unwrap().domains.len(), 3);

        // Another host sends with a domain nobody serves here.
        let mut other = report("web2", 1);
        other.sender_domains = vec![sent("newsletter.example", 7)];
        store.apply_report(&other, 300).await.unwrap();

        let watched = store.watched_domains(registrable).unwrap();
        let names: Vec<&str> = watched.keys().map(String::as_str).collect();
        assert_eq!(names, ["blog.example", "newsletter.example", "shop.example"]);
        let shop = &watched["shop.example"];
        // A name under the domain counts for the registrable domain.
        assert_eq!(shop.hosts.len(), 2);
        assert_eq!((shop.messages, shop.sends(), shop.subscriptions()), (42, true, vec!["shop".to_string()]));
        assert!(!watched["blog.example"].sends());
        assert_eq!(watched["newsletter.example"].all_hosts(), ["web2"]);
        let rows = store.sending_of("shop.example").unwrap();
        assert_eq!((rows.len(), rows[0].first_seen_ms, rows[0].last_seen_ms), (1, 100, 200));

        // An empty list replaces the old one: the host serves nothing now.
        let mut third = report("web1", 3);
        third.domains = Some(HostDomains::default());
        store.apply_report(&third, 400).await.unwrap();
        let watched = store.watched_domains(registrable).unwrap();
        assert!(!watched.contains_key("blog.example"));
        assert!(watched["shop.example"].hosts.is_empty() && watched["shop.example"].sends());
    }
}

#[tokio::test]
async fn a_duplicate_report_does_not_count_its_senders_twice() {
    for backing in backends("store::domains::tests::a_duplicate_report_does_not_count_its_senders_twice") {
        let store = backing.open();
        let mut r = report("web1", 1);
        r.sender_domains = vec![sent("shop.example", 5)];
        store.apply_report(&r, 100).await.unwrap();
        store.apply_report(&r, 150).await.unwrap();
        assert_eq!(store.sending_of("shop.example").unwrap()[0].messages, 5);
    }
}
