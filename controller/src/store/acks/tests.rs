#![allow(clippy::unwrap_used)]

use rblfleet_proto::v1::{ActionRecord, ContainmentAction, HostReport, HostSummary, ReceiverState};

use super::{AckReads, BatchReads, split};
use crate::store::backends::backends;
use crate::store::{Applied, ReceiverStates, StoreError};

fn report(host: &str, seq: u64) -> HostReport {
    HostReport { host_id: host.into(), epoch: 1, seq, period_start_ms: 1, period_end_ms: 2, ..Default::default() }
}

fn action(id: &str, host: &str, created_ms: i64) -> ActionRecord {
    ActionRecord {
        action: Some(ContainmentAction { id: id.into(), host_id: host.into(), ..Default::default() }),
        state: "approved".into(),
        created_ms,
        ..Default::default()
    }
}

fn receiver(ip: &str, provider: &str, refusals: u64) -> ReceiverState {
    ReceiverState { ip: ip.into(), provider: provider.into(), refusals_in_window: refusals, ..Default::default() }
}

fn pair(ip: &str, provider: &str) -> (String, String) {
    (ip.into(), provider.into())
}

/// The batch hands a stored report the states of the pairs it asked for
/// (and only those) and its host's actions newest first, read in the same
/// transaction as the report; a resend gets the actions but no receiver
/// states (nothing will apply them).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_report_comes_back_with_its_receiver_states_and_actions() {
    for backing in backends("store::acks::tests::a_report_comes_back_with_its_receiver_states_and_actions") {
        let store = backing.open();
        let listed = receiver("192.0.2.1", "gmail", 7);
        store.put_receiver_state(&listed).unwrap();
        store.put_receiver_state(&receiver("192.0.2.9", "gmail", 1)).unwrap();
        let (old, new) = (action("a-old", "web1", 10), action("a-new", "web1", 20));
        for record in [&old, &new, &action("b-1", "web2", 30)] {
            store.put_action(record).unwrap();
        }
        let asked = vec![pair("192.0.2.1", "gmail"), pair("192.0.2.1", "outlook")];

        let (applied, reads) = store.ingest_report(&report("web1", 1), 5, asked.clone()).await.unwrap();
        assert!(matches!(applied, Applied::Stored(_)), "{}: {applied:?}", backing.name());
        let expected: ReceiverStates = [(pair("192.0.2.1", "gmail"), listed.clone())].into();
        assert_eq!(reads.receivers, Some(expected), "{}", backing.name());
        assert_eq!(reads.actions, Some(vec![new.clone(), old.clone()]), "{}", backing.name());

        let (applied, reads) = store.ingest_report(&report("web1", 1), 6, asked).await.unwrap();
        assert!(matches!(applied, Applied::Duplicate(_)), "{}: {applied:?}", backing.name());
        assert_eq!(reads, AckReads { receivers: None, actions: Some(vec![new, old]) }, "{}", backing.name());

        // A host without actions gets an empty list, not "unread".
        let (_, reads) = store.ingest_report(&report("web3", 1), 7, Vec::new()).await.unwrap();
        assert_eq!(reads, AckReads { receivers: Some(ReceiverStates::new()), actions: Some(Vec::new()) });
    }
}

/// Within one batch, a pair a stored report asked for is handed only to the
/// first stored report asking: the later ones read it afresh after the first
/// has applied its bounces. Refusals keep their errors; duplicates get no
/// states.
#[test]
fn a_pair_is_handed_once_per_batch() {
    let shared = pair("192.0.2.1", "gmail");
    let own = pair("192.0.2.2", "gmail");
    let reads = BatchReads {
        receivers: [(shared.clone(), receiver("192.0.2.1", "gmail", 3))].into(),
        actions: vec![action("x", "web2", 5), action("y", "web1", 4)],
    };
    let first = [shared.clone()];
    let second = [shared.clone(), own.clone()];
    let third = [own.clone()];
    let asked: Vec<&[(String, String)]> = vec![&first, &[], &second, &third, &first];
    let hosts = ["web1", "web1", "web2", "web3", "web4"];
    let stored = || Ok(Applied::Stored(HostSummary::default()));
    let outcomes = vec![
        stored(),
        Err(StoreError::Conflict { host_id: "web1".into(), epoch: 1, seq: 1 }),
        stored(),
        stored(),
        Ok(Applied::Duplicate(HostSummary::default())),
    ];
    let acked = split(&hosts, &asked, outcomes, Some(&reads));
    let receivers: Vec<Option<Option<usize>>> =
        acked.iter().map(|a| a.as_ref().ok().map(|(_, r)| r.receivers.as_ref().map(|r| r.len()))).collect();
    // web1 gets its pair; the refusal nothing; web2 shares a pair with web1
    // and reads afresh; web3's pair was claimed by web2; the duplicate none.
    assert_eq!(receivers, [Some(Some(1)), None, Some(None), Some(None), Some(None)]);
    assert!(matches!(acked[1], Err(StoreError::Conflict { .. })));
    let actions: Vec<Vec<String>> = acked
        .iter()
        .filter_map(|a| a.as_ref().ok())
        .map(|(_, r)| r.actions.iter().flatten().filter_map(|a| a.action.as_ref()).map(|a| a.id.clone()).collect())
        .collect();
    assert_eq!(actions, [vec!["y".to_string()], vec!["x".into()], vec![], vec![]]);
    // Reads that failed (sled): every report reads for itself.
    let acked = split(&hosts[..1], &asked[..1], vec![stored()], None);
    assert_eq!(acked[0].as_ref().unwrap().1, AckReads::default());
}
