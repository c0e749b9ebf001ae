#![allow(clippy::unwrap_used)]

use rblfleet_proto::v1::{AgentInfo, HostReport};

use super::backends::{Backing, backends};
use super::{Applied, SCHEMA_VERSION, Store, StoreError, StoreOptions};

fn report(host: &str, epoch: u64, seq: u64) -> HostReport {
    HostReport {
        host_id: host.into(),
        epoch,
        seq,
        period_start_ms: 1,
        period_end_ms: 2,
        agent: Some(AgentInfo { version: "0.1.0".into(), ..Default::default() }),
        ..Default::default()
    }
}

fn open(dir: &std::path::Path) -> Store {
    Store::open(dir, &StoreOptions { cache_bytes: 1 << 20, ..StoreOptions::default() }).unwrap()
}

#[tokio::test]
async fn reports_are_stored_once_and_survive_reopen() {
    for backing in backends("store::tests::reports_are_stored_once_and_survive_reopen") {
        {
            let store = backing.open();
            assert!(matches!(store.apply_report(&report("web1", 1, 1), 10).await.unwrap(), Applied::Stored(_)));
            assert!(matches!(store.apply_report(&report("web1", 1, 1), 11).await.unwrap(), Applied::Duplicate(_)));
            store.apply_report(&report("web10", 1, 1), 12).await.unwrap();
            store.apply_report(&report("web1", 1, 3), 13).await.unwrap();
        }
        let store = backing.open();
        // "web1" must not pick up "web10"'s reports.
        let seqs: Vec<u64> = store.host_reports("web1").unwrap().iter().map(|r| r.seq).collect();
        assert_eq!(seqs, [1, 3]);
        let (summary, last) = store.get_host("web1").unwrap().unwrap();
        assert_eq!((summary.reports_stored, summary.seq_gaps, summary.last_seq), (2, 1, 3));
        assert_eq!((summary.first_seen_ms, summary.last_report_ms), (10, 13));
        assert_eq!(last.unwrap().seq, 3);
        let hosts: Vec<String> = store.list_hosts().unwrap().into_iter().map(|h| h.host_id).collect();
        assert_eq!(hosts, ["web1", "web10"]);
        assert!(store.get_host("web2").unwrap().is_none());
    }
}

#[tokio::test]
async fn a_new_epoch_restarts_sequences_and_an_old_one_is_refused() {
    for backing in backends("store::tests::a_new_epoch_restarts_sequences_and_an_old_one_is_refused") {
        let store = backing.open();
        store.apply_report(&report("web1", 5, 9), 1).await.unwrap();
        store.apply_report(&report("web1", 6, 1), 2).await.unwrap();
        let err = store.apply_report(&report("web1", 5, 10), 3).await.unwrap_err();
        assert!(matches!(err, StoreError::StaleEpoch { current: 6, .. }), "{err}");
        let err = store.apply_report(&report("web1", 6, 1).clone_with_os("changed"), 3).await.unwrap_err();
        assert!(matches!(err, StoreError::Conflict { .. }), "{err}");
        assert_eq!(store.get_host("web1").unwrap().unwrap().0.reports_stored, 2);
    }
}

trait WithOs {
    fn clone_with_os(&self, os: &str) -> Self;
}

impl WithOs for HostReport {
    fn clone_with_os(&self, os: &str) -> Self {
        let mut r = self.clone();
        r.agent.as_mut().unwrap().os = os.into();
        r
    }
}

#[tokio::test]
async fn a_store_from_another_schema_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    {
        let db = sled::open(dir.path()).unwrap();
        db.open_tree("meta").unwrap().insert("schema_version", &(SCHEMA_VERSION + 1).to_be_bytes()).unwrap();
        db.flush().unwrap();
    }
    let err = Store::open(dir.path(), &StoreOptions::default()).unwrap_err();
    assert!(err.to_string().contains(&format!("schema version {}", SCHEMA_VERSION + 1)), "{err}");
}

#[tokio::test]
async fn a_second_opener_gets_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let _first = open(dir.path());
    let err = Store::open(dir.path(), &StoreOptions::default()).unwrap_err();
    assert!(err.to_string().contains("another `rblfleet serve`"), "{err}");
}

/// Many reporters at once: each report is answered once, the ones answered
/// `Stored` are all on disk after a reopen, and a full writer queue refuses
/// reports (`Overloaded`) without storing them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_reports_share_flushes_and_a_full_queue_sheds() {
    for backing in backends("store::tests::concurrent_reports_share_flushes_and_a_full_queue_sheds") {
        concurrent_reports_on(&backing).await;
    }
}

async fn concurrent_reports_on(backing: &Backing) {
    let store =
        backing.open_with(&StoreOptions { cache_bytes: 1 << 20, max_pending_reports: 4, ..StoreOptions::default() });
    let mut tasks = Vec::new();
    for host in 0..50 {
        let store = store.clone();
        tasks.push(tokio::spawn(async move {
            let mut outcomes = Vec::new();
            for seq in 1..=10 {
                let report = report(&format!("web{host}"), 1, seq);
                outcomes.push((seq, store.apply_report(&report, 5).await));
            }
            outcomes
        }));
    }
    let (mut stored, mut shed) = (std::collections::BTreeMap::new(), 0);
    for (host, task) in tasks.into_iter().enumerate() {
        for (seq, outcome) in task.await.unwrap() {
            match outcome {
                Ok(Applied::Stored(_)) => stored.entry(format!("web{host}")).or_insert_with(Vec::new).push(seq),
                Err(StoreError::Overloaded { pending: 4 }) => shed += 1,
                other => panic!("web{host} seq {seq}: unexpected {other:?}"),
            }
        }
    }
    assert!(shed > 0, "500 reports through a queue of 4 must shed some");
    drop(store);
    let store = backing.open();
    let mut on_disk = std::collections::BTreeMap::new();
    for host in store.list_hosts().unwrap() {
        let seqs: Vec<u64> = store.host_reports(&host.host_id).unwrap().iter().map(|r| r.seq).collect();
        assert_eq!(host.reports_stored, seqs.len() as u64, "{}", host.host_id);
        on_disk.insert(host.host_id, seqs);
    }
    assert_eq!(on_disk, stored, "exactly the reports answered Stored are on disk");
}

/// One batch, one transaction: a refused report writes nothing and does not
/// undo the others; a duplicate inside the batch sees the earlier write.
#[tokio::test]
async fn a_refused_report_does_not_undo_its_batch() {
    for backing in backends("store::tests::a_refused_report_does_not_undo_its_batch") {
        let store = backing.open();
        store.apply_report(&report("web1", 2, 5), 1).await.unwrap();
        let (a, backwards, b, again) =
            (report("web2", 1, 1), report("web1", 2, 4), report("web1", 2, 6), report("web2", 1, 1));
        let batch = [(&a, 2), (&backwards, 2), (&b, 2), (&again, 2)];
        let outcomes = store.apply_batch_unflushed(&batch).unwrap();
        assert!(matches!(outcomes[0], Ok(Applied::Stored(_))), "{:?}", outcomes[0]);
        assert!(matches!(outcomes[1], Err(StoreError::SeqBackwards { last_seq: 5, .. })), "{:?}", outcomes[1]);
        assert!(matches!(outcomes[2], Ok(Applied::Stored(_))), "{:?}", outcomes[2]);
        assert!(matches!(outcomes[3], Ok(Applied::Duplicate(_))), "{:?}", outcomes[3]);
        let seqs: Vec<u64> = store.host_reports("web1").unwrap().iter().map(|r| r.seq).collect();
        assert_eq!(seqs, [5, 6]);
        assert_eq!(store.get_host("web2").unwrap().unwrap().0.reports_stored, 1);
    }
}

/// A large batch of many hosts, as the writer forms under load: each
/// report is decided in order against the ones before it (duplicates in the
/// batch and of an earlier batch answered as such, conflicts and a stale
/// epoch refused alone), every table the batch writes is
/// written once per key, and a host's reports stay in sequence order.
#[tokio::test]
async fn a_large_batch_is_decided_report_by_report() {
    use rblfleet_proto::v1::{HostDomain, HostDomains, NamedCount};
    for backing in backends("store::tests::a_large_batch_is_decided_report_by_report") {
        let store = backing.open();
        // An earlier batch: web0's seq 1.
        store.apply_report(&report("web0", 1, 1), 1).await.unwrap();
        let mut reports = Vec::new();
        for seq in 1..=3 {
            for host in 0..40 {
                let mut r = report(&format!("web{host}"), 1, seq);
                r.sender_domains = vec![NamedCount { name: format!("d{}.example", host % 3), count: seq }];
                if host == 7 {
                    let domain = HostDomain { name: format!("seq{seq}.example"), ..Default::default() };
                    r.domains = Some(HostDomains { domains: vec![domain], ..Default::default() });
                }
                reports.push(r);
            }
        }
        // The duplicate of the earlier batch's web0 seq 1 differs only in
        // its sender count: a conflict. web1 seq 2 again, unchanged: a
        // duplicate of a report earlier in this batch. web2 from an older
        // epoch after this batch's epoch-1 reports: stale.
        let web0_first = reports[0].clone();
        let web1_again = reports[41].clone();
        let web2_back = report("web2", 0, 9);
        let mut batch: Vec<(&HostReport, i64)> = reports.iter().map(|r| (r, 2)).collect();
        batch.extend([(&web0_first, 2), (&web1_again, 2), (&web2_back, 2)]);
        let outcomes = store.apply_batch_unflushed(&batch).unwrap();
        let n = reports.len();
        assert!(matches!(outcomes[0], Err(StoreError::Conflict { seq: 1, .. })), "{:?}", outcomes[0]);
        for (i, outcome) in outcomes[1..n].iter().enumerate() {
            assert!(matches!(outcome, Ok(Applied::Stored(_))), "report {}: {outcome:?}", i + 1);
        }
        assert!(matches!(outcomes[n], Err(StoreError::Conflict { .. })), "{:?}", outcomes[n]);
        assert!(matches!(outcomes[n + 1], Ok(Applied::Duplicate(_))), "{:?}", outcomes[n + 1]);
        assert!(matches!(outcomes[n + 2], Err(StoreError::StaleEpoch { current: 1, .. })), "{:?}", outcomes[n + 2]);

        for host in 0..40 {
            let id = format!("web{host}");
            let seqs: Vec<u64> = store.host_reports(&id).unwrap().iter().map(|r| r.seq).collect();
            assert_eq!(seqs, [1, 2, 3], "{id}");
            let summary = store.get_host(&id).unwrap().unwrap().0;
            assert_eq!((summary.reports_stored, summary.last_seq), (3, 3), "{id}");
        }
        let domains = store.host_domains("web7").unwrap().unwrap();
        assert_eq!(domains.domains[0].name, "seq3.example", "the batch's last list wins");
        // d0.example: hosts 0, 3, …, 39 (14 hosts); each sent 1 + 2 + 3
        // messages, except web0 whose seq 1 was stored by the earlier batch
        // without sender domains.
        let senders = store.sending_of("d0.example").unwrap();
        assert_eq!(senders.len(), 14);
        for row in &senders {
            let expected = if row.host_id == "web0" { 5 } else { 6 };
            assert_eq!(row.messages, expected, "{}", row.host_id);
        }
    }
}

/// Checks, episodes and zone usage: the latest check per (IP, zone), an
/// IP's rows apart from a longer IP's ("192.0.2.1" vs "192.0.2.10"), the
/// last write of a key in one call winning, counts adding up.
#[tokio::test]
async fn checks_episodes_and_zone_usage_round_trip() {
    use rblfleet_proto::v1::{ListingEpisode, ZoneCheck};
    let check = |ip: &str, zone: &str, at: i64| ZoneCheck {
        ip: ip.into(),
        zone_id: zone.into(),
        zone: format!("{zone}.example"),
        status: 2,
        checked_ms: at,
        codes: vec!["127.0.0.2".into()],
        ..Default::default()
    };
    let episode = |ip: &str, zone: &str, first: i64, last: i64| ListingEpisode {
        ip: ip.into(),
        zone_id: zone.into(),
        first_seen_ms: first,
        last_seen_ms: last,
        ..Default::default()
    };
    for backing in backends("store::tests::checks_episodes_and_zone_usage_round_trip") {
        let store = backing.open();
        assert_eq!(store.zone_check("192.0.2.1", "zen").unwrap(), None);
        let (a, b, c) = (check("192.0.2.1", "zen", 10), check("192.0.2.1", "bl", 10), check("192.0.2.10", "zen", 10));
        let (e1, e2) = (episode("192.0.2.1", "zen", 5, 10), episode("192.0.2.1", "zen", 5, 20));
        store.record_checks(&[(&a, Some(&e1)), (&b, None), (&c, None), (&a, Some(&e2))]).unwrap();
        store.record_check(&check("192.0.2.1", "zen", 30), None).unwrap();
        assert_eq!(store.zone_check("192.0.2.1", "zen").unwrap().unwrap().checked_ms, 30);
        let zones: Vec<String> = store.ip_checks("192.0.2.1").unwrap().into_iter().map(|c| c.zone_id).collect();
        assert_eq!(zones, ["bl", "zen"]);
        let all: Vec<(String, String)> = store.all_checks().unwrap().into_iter().map(|c| (c.ip, c.zone_id)).collect();
        assert_eq!(all.len(), 3);
        assert_eq!(all[2], ("192.0.2.10".to_string(), "zen".to_string()));
        assert_eq!(store.episode("192.0.2.1", "zen", 5).unwrap().unwrap().last_seen_ms, 20);
        store.put_episode(&episode("192.0.2.1", "zen", 1, 2)).unwrap();
        let firsts: Vec<i64> = store.ip_episodes("192.0.2.1").unwrap().iter().map(|e| e.first_seen_ms).collect();
        assert_eq!(firsts, [1, 5]);
        assert!(store.ip_episodes("192.0.2.10").unwrap().is_empty());
        assert_eq!(store.zone_usage("zen", 20_000).unwrap(), 0);
        assert_eq!(store.add_zone_usage("zen", 20_000, 3).unwrap(), 3);
        assert_eq!(store.add_zone_usage("zen", 20_000, 4).unwrap(), 7);
        assert_eq!(store.add_zone_usage("zen", 20_001, 1).unwrap(), 1);
        assert_eq!(store.zone_usage("zen", 20_000).unwrap(), 7);
        let zones = ["sbl".to_string(), "zen".to_string()];
        assert_eq!(store.zones_usage(&zones, 20_000).unwrap(), [0, 7]);
        assert_eq!(store.zones_usage(&zones, 20_001).unwrap(), [0, 1]);
    }
}

/// Cases: fresh ids from 1, the (IP, list) index following the last case
/// stored for the pair; receiver states by (IP, provider).
#[tokio::test]
async fn cases_are_indexed_by_ip_and_list() {
    use rblfleet_proto::v1::{Case, ReceiverState};
    for backing in backends("store::tests::cases_are_indexed_by_ip_and_list") {
        let store = backing.open();
        let first = store.next_case_id().unwrap();
        assert_eq!(first, 1);
        let second = store.next_case_id().unwrap();
        assert_eq!(second, 2);
        let case = |id, ip: &str, list: &str| Case { id, ip: ip.into(), list_id: list.into(), ..Default::default() };
        store.put_case(&case(first, "192.0.2.1", "zen")).unwrap();
        store.put_case(&case(second, "192.0.2.1", "bl")).unwrap();
        assert_eq!(store.case_for("192.0.2.1", "zen").unwrap().unwrap().id, first);
        assert_eq!(store.case_for("192.0.2.1", "spamcop").unwrap(), None);
        // Several pairs in one call: the ones with a case, keyed by pair.
        let pairs = [("192.0.2.1", "zen"), ("192.0.2.1", "spamcop"), ("192.0.2.1", "bl"), ("192.0.2.9", "zen")]
            .map(|(ip, list)| (ip.to_string(), list.to_string()));
        let found = store.cases_for(&pairs).unwrap();
        assert_eq!(found.len(), 2, "{found:?}");
        assert_eq!(found.get(&pairs[0]).map(|c| c.id), Some(first));
        assert_eq!(found.get(&pairs[2]).map(|c| c.id), Some(second));
        assert!(store.cases_for(&[]).unwrap().is_empty());
        let mut updated = case(first, "192.0.2.1", "zen");
        updated.relistings = 2;
        store.put_case(&updated).unwrap();
        assert_eq!(store.case(first).unwrap().unwrap().relistings, 2);
        assert_eq!(store.case(99).unwrap(), None);
        let ids: Vec<u64> = store.all_cases().unwrap().iter().map(|c| c.id).collect();
        assert_eq!(ids, [1, 2]);

        assert_eq!(store.receiver_state("192.0.2.1", "microsoft").unwrap(), None);
        let state = ReceiverState { ip: "192.0.2.1".into(), provider: "microsoft".into(), ..Default::default() };
        store.put_receiver_state(&state).unwrap();
        store.put_receiver_state(&ReceiverState { provider: "google".into(), ..state.clone() }).unwrap();
        assert_eq!(store.receiver_state("192.0.2.1", "microsoft").unwrap(), Some(state.clone()));
        // Several pairs in one call: the stored ones, keyed by pair; a pair
        // never stored (or another IP's) is absent.
        let pairs = [("192.0.2.1", "microsoft"), ("192.0.2.1", "yahoo"), ("192.0.2.10", "google")]
            .map(|(ip, provider)| (ip.to_string(), provider.to_string()));
        let found = store.receiver_states(&pairs).unwrap();
        assert_eq!(found.len(), 1, "{found:?}");
        assert_eq!(found.get(&pairs[0]), Some(&state));
        assert!(store.receiver_states(&[]).unwrap().is_empty());
        let providers: Vec<String> = store.all_receiver_states().unwrap().into_iter().map(|s| s.provider).collect();
        assert_eq!(providers, ["google", "microsoft"]);
    }
}

/// Roll-ups follow the reports into their hour; `rollups` takes
/// `from <= hour < to`.
#[tokio::test]
async fn reports_roll_up_by_hour() {
    const HOUR: i64 = 3_600_000;
    for backing in backends("store::tests::reports_roll_up_by_hour") {
        let store = backing.open();
        for (seq, end) in [(1, HOUR + 5), (2, HOUR + 6), (3, 2 * HOUR + 1)] {
            let mut r = report("web1", 1, seq);
            r.period_end_ms = end;
            store.apply_report(&r, end).await.unwrap();
        }
        let hours: Vec<(i64, u64)> =
            store.rollups("web1", 0, 3 * HOUR).unwrap().iter().map(|r| (r.hour_ms, r.reports)).collect();
        assert_eq!(hours, [(HOUR, 2), (2 * HOUR, 1)]);
        assert_eq!(store.rollups("web1", HOUR + 10, 2 * HOUR).unwrap().len(), 1);
        assert!(store.rollups("web10", 0, 3 * HOUR).unwrap().is_empty());
        // Several hosts in one call: host by host in the order asked, each
        // oldest first, with the same window; unknown hosts add nothing.
        let mut r = report("web0", 1, 1);
        r.period_end_ms = 2 * HOUR + 7;
        store.apply_report(&r, r.period_end_ms).await.unwrap();
        let asked = ["web1", "web10", "web0"].map(String::from);
        let both: Vec<(String, i64)> = store
            .hosts_rollups(&asked, HOUR + 10, 3 * HOUR)
            .unwrap()
            .into_iter()
            .map(|r| (r.host_id, r.hour_ms))
            .collect();
        assert_eq!(both, [("web1".to_string(), HOUR), ("web1".to_string(), 2 * HOUR), ("web0".to_string(), 2 * HOUR)]);
        assert!(store.hosts_rollups(&[], 0, 3 * HOUR).unwrap().is_empty());
    }
}

/// Retention: raw reports that ended before the cutoff go, except each
/// host's latest; roll-ups go by their hour. A late report for a pruned day
/// is still stored (PostgreSQL recreates the dropped partition).
#[tokio::test]
async fn prune_keeps_each_hosts_latest_report() {
    const DAY: i64 = 86_400_000;
    let day0 = 20_000 * DAY;
    for backing in backends("store::tests::prune_keeps_each_hosts_latest_report") {
        let store = backing.open();
        for (host, seq, end) in [
            ("web1", 1, day0 + 10),
            ("web1", 2, day0 + DAY + 10),
            ("web1", 3, day0 + 2 * DAY + 10),
            ("web2", 1, day0 + 20),
        ] {
            let mut r = report(host, 1, seq);
            r.period_end_ms = end;
            store.apply_report(&r, end).await.unwrap();
        }
        let pruned = store.prune(day0 + 2 * DAY, day0 + DAY + 1).unwrap();
        assert_eq!((pruned.reports, pruned.rollups), (2, 3));
        let seqs = |host: &str| store.host_reports(host).unwrap().iter().map(|r| r.seq).collect::<Vec<_>>();
        assert_eq!((seqs("web1"), seqs("web2")), (vec![3], vec![1]));
        assert_eq!(store.get_host("web2").unwrap().unwrap().1.unwrap().seq, 1);
        assert_eq!(store.rollups("web1", 0, day0 + 3 * DAY).unwrap().len(), 1);
        let mut late = report("web3", 1, 1);
        late.period_end_ms = day0 + DAY + 5;
        store.apply_report(&late, day0 + 3 * DAY).await.unwrap();
        assert_eq!(seqs("web3"), [1]);
        assert_eq!(store.prune(day0 + 2 * DAY, 0).unwrap().reports, 0, "web3's only report is its latest");
    }
}
