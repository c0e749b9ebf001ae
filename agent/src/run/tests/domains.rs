//! The host's domains and its sender domains through the whole agent to a
//! real gRPC server: the set in the first report, absent while unchanged,
//! present again after a change; sender domains from the log every time.

use rblfleet_proto::v1::NamedCount;

use super::logs::{append, message};
use super::*;

/// Ticks, delivers, and returns what the controller stored.
async fn tick_and_send(agent: &mut Agent, controller: &Controller) -> HostReport {
    let seq = agent.tick().unwrap();
    let out = agent.flush().await;
    assert_eq!(out.sent, 1, "{:?}", out.last_error);
    let last = controller.state.lock().unwrap().last.clone().unwrap();
    assert_eq!(last.seq, seq);
    last
}

fn counts(named: &[NamedCount]) -> Vec<(&str, u64)> {
    named.iter().map(|c| (c.name.as_str(), c.count)).collect()
}

#[tokio::test]
async fn domains_are_sent_first_and_when_changed_sender_domains_every_time() {
    let dir = tempfile::tempdir().unwrap();
    for vhost in ["shop.example", "bücher.example", "default"] {
        std::fs::create_dir_all(dir.path().join("vhosts").join(vhost)).unwrap();
    }
    std::fs::write(dir.path().join("virtual_domains"), "shop.example VIRTUAL\n").unwrap();
    let log = dir.path().join("mail.log");
    append(&log, &message("AAAA1", "a@shop.example", "192.0.2.1", &[("x@b.example", "sent")]));
    append(&log, &message("AAAA2", "b@Shop.Example", "192.0.2.1", &[("y@b.example", "sent")]));
    append(&log, &message("AAAA3", "c@other.example", "192.0.2.2", &[("z@b.example", "sent")]));
    let controller = Controller::start(Mode::Accept).await;
    let mut config = config(controller.addr, dir.path());
    config.domains.static_domains = vec!["static.example".into()];
    let mut agent = Agent::open(config, INSECURE).await.unwrap();

    let first = tick_and_send(&mut agent, &controller).await;
    let domains = first.domains.expect("the first report carries the set");
    let names: Vec<(&str, &str, bool)> =
        domains.domains.iter().map(|d| (d.name.as_str(), d.unicode.as_str(), d.mail)).collect();
    assert_eq!(
        names,
        [("shop.example", "", true), ("static.example", "", false), ("xn--bcher-kva.example", "bücher.example", false)]
    );
    assert_eq!(domains.sources, ["postfix", "vhosts", "static"]);
    assert!(!domains.truncated);
    assert_eq!(counts(&first.sender_domains), [("shop.example", 2), ("other.example", 1)]);
    let status = first.status.unwrap();
    assert!(status.collectors.iter().any(|c| c.name == "domains" && c.ok), "{:?}", status.collectors);

    let second = tick_and_send(&mut agent, &controller).await;
    assert!(second.domains.is_none(), "unchanged: absent, the controller keeps the last set");
    assert!(second.sender_domains.is_empty(), "no mail in the period");
    assert!(second.status.unwrap().collectors.iter().any(|c| c.name == "domains" && c.ok));

    std::fs::create_dir_all(dir.path().join("vhosts/new.example")).unwrap();
    append(&log, &message("AAAA4", "d@new.example", "192.0.2.3", &[("w@b.example", "sent")]));
    agent.domains.as_mut().unwrap().refresh_now();
    let third = tick_and_send(&mut agent, &controller).await;
    let names: Vec<String> = third.domains.expect("changed: sent again").domains.into_iter().map(|d| d.name).collect();
    assert_eq!(names, ["new.example", "shop.example", "static.example", "xn--bcher-kva.example"]);
    assert_eq!(counts(&third.sender_domains), [("new.example", 1)]);
}

#[tokio::test]
async fn a_host_serving_none_says_so_and_disabled_sends_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let controller = Controller::start(Mode::Accept).await;
    let mut agent = Agent::open(config(controller.addr, dir.path()), INSECURE).await.unwrap();
    let report = tick_and_send(&mut agent, &controller).await;
    let domains = report.domains.expect("present and empty: the host serves none");
    assert!(domains.domains.is_empty() && domains.sources.is_empty());
    drop(agent);

    let mut config = config(controller.addr, dir.path());
    config.domains.enabled = false;
    let mut agent = Agent::open(config, INSECURE).await.unwrap();
    let report = tick_and_send(&mut agent, &controller).await;
    assert!(report.domains.is_none());
    assert!(!report.status.unwrap().collectors.iter().any(|c| c.name == "domains"));
}
