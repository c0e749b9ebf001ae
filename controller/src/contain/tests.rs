//! Containment on a real store: what is refused, the plan → apply → undo
//! path with the agent's results, expiry, and the audit on the case.
#![allow(clippy::unwrap_used)]

use rblfleet_proto::action::{generate_key, verify};
use rblfleet_proto::v1::{
    ActionResult, Case, CaseState, ContainRequest, HostIp, HostReport, SignedAction, SourceKind, SourceStats,
};

use super::{ActionsConfig, ContainError, Containment, pending, take_results};
use crate::store::{Store, StoreOptions};

const HOST: &str = "web07.example";
const NOW: i64 = 1_800_000_000_000;

fn report(host: &str, seq: u64, results: Vec<ActionResult>) -> HostReport {
    HostReport {
        host_id: host.into(),
        epoch: 1,
        seq,
        period_start_ms: NOW - 60_000,
        period_end_ms: NOW,
        ips: vec![HostIp { address: "203.0.113.7".into(), public: true, sends_mail: true, ..Default::default() }],
        sources: vec![
            SourceStats {
                kind: SourceKind::SaslUser as i32,
                id: "info@shop.example".into(),
                subscription: "shop.example".into(),
                messages: 500,
                scripts: vec!["/var/www/vhosts/shop.example/httpdocs/x.php".into()],
                ..Default::default()
            },
            SourceStats { kind: SourceKind::Sender as i32, id: "info@shop.example".into(), ..Default::default() },
            SourceStats {
                kind: SourceKind::Script as i32,
                id: "mailer.php".into(),
                uid: Some(10001),
                subscription: "shop.example".into(),
                ..Default::default()
            },
        ],
        action_results: results,
        ..Default::default()
    }
}

async fn setup(dir: &std::path::Path) -> (Store, Containment, [u8; 32]) {
    let store = Store::open(&dir.join("data"), &StoreOptions::default()).unwrap();
    store.apply_report(&report(HOST, 1, vec![]), NOW).await.unwrap();
    store
        .put_case(&Case {
            id: 1,
            ip: "203.0.113.7".into(),
            list_id: "bl".into(),
            state: CaseState::Open as i32,
            ..Default::default()
        })
        .unwrap();
    let key = dir.join("actions.key");
    std::fs::write(&key, generate_key().unwrap()).unwrap();
    let contain = Containment::from_config(&ActionsConfig { key: Some(key), ..ActionsConfig::default() }).unwrap();
    let public = contain.public_key().unwrap();
    (store, contain, public)
}

fn plan(kind: &str, source_kind: SourceKind, source: &str) -> ContainRequest {
    ContainRequest {
        op: "plan".into(),
        host_id: HOST.into(),
        source_kind: source_kind as i32,
        source_id: source.into(),
        kind: kind.into(),
        ..Default::default()
    }
}

fn result(id: &str, status: &str, undo: &str) -> ActionResult {
    ActionResult {
        id: id.into(),
        status: status.into(),
        commands: vec!["postsuper -h -".into()],
        undo: undo.into(),
        ..Default::default()
    }
}

fn ids(signed: &[SignedAction], public: &[u8]) -> Vec<String> {
    signed.iter().map(|s| verify(public, s, HOST, NOW).unwrap().id).collect()
}

#[tokio::test]
async fn refusals_name_what_is_wrong_and_store_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let (store, contain, _) = setup(dir.path()).await;
    let off = Containment::from_config(&ActionsConfig::default()).unwrap();
    let sasl = SourceKind::SaslUser;
    assert!(matches!(
        off.request(&store, &plan("hold_queue", sasl, "info@shop.example"), "ops", NOW),
        Err(ContainError::NotConfigured)
    ));
    let refused = |r: ContainRequest| contain.request(&store, &r, "ops", NOW).unwrap_err();
    assert!(matches!(refused(plan("format_disk", sasl, "info@shop.example")), ContainError::UnknownKind(_)));
    assert!(matches!(
        refused(ContainRequest { host_id: "web99".into(), ..plan("hold_queue", sasl, "info@shop.example") }),
        ContainError::UnknownHost(_)
    ));
    assert!(matches!(
        refused(plan("pause_mailbox", SourceKind::Sender, "info@shop.example")),
        ContainError::WrongSource { .. }
    ));
    // Only what the agent reported: a made-up source, or an injection in its name.
    for source in ["boss@shop.example", "info@shop.example; rm -rf /", "$(reboot)", "../../etc/passwd"] {
        assert!(matches!(refused(plan("hold_queue", sasl, source)), ContainError::NotReported { .. }), "{source}");
    }
    let script =
        ContainRequest { script: "/etc/shadow".into(), ..plan("quarantine_script", SourceKind::Script, "/etc/shadow") };
    assert!(matches!(refused(script), ContainError::NotReported { .. }));
    assert!(matches!(refused(ContainRequest { op: "nuke".into(), ..Default::default() }), ContainError::BadOp(_)));
    assert!(store.actions(None).unwrap().is_empty());
}

#[tokio::test]
async fn plan_apply_and_undo_follow_the_agents_results_and_land_on_the_case() {
    let dir = tempfile::tempdir().unwrap();
    let (store, contain, public) = setup(dir.path()).await;
    let planned =
        contain.request(&store, &plan("hold_queue", SourceKind::SaslUser, "info@shop.example"), "alice", NOW).unwrap();
    let plan_id = planned.action.as_ref().unwrap().id.clone();
    assert_eq!(planned.state, "planned");
    // The dry run goes out with the next ack, signed for this host only.
    let out = pending(&store, HOST, NOW).unwrap();
    assert_eq!(ids(&out, &public), std::slice::from_ref(&plan_id));
    assert!(verify(&public, &out[0], HOST, NOW).unwrap().dry_run);
    assert!(verify(&public, &out[0], "web08.example", NOW).is_err());

    // Apply is refused until the agent has answered the dry run, and without a reason.
    let apply = ContainRequest {
        op: "apply".into(),
        id: plan_id.clone(),
        reason: "hijacked mailbox".into(),
        ..Default::default()
    };
    assert!(matches!(contain.request(&store, &apply, "alice", NOW), Err(ContainError::BadState { .. })));
    // A result from another host changes nothing; this host's does.
    take_results(&store, &report("web08.example", 1, vec![result(&plan_id, "done", "")]), NOW).unwrap();
    assert_eq!(store.action(&plan_id).unwrap().unwrap().state, "planned");
    take_results(&store, &report(HOST, 2, vec![result(&plan_id, "done", "")]), NOW).unwrap();
    assert_eq!(store.action(&plan_id).unwrap().unwrap().state, "plan_ready");
    assert!(pending(&store, HOST, NOW).unwrap().is_empty(), "an answered plan is not sent again");
    let no_reason = ContainRequest { reason: " ".into(), ..apply.clone() };
    assert!(matches!(contain.request(&store, &no_reason, "alice", NOW), Err(ContainError::Missing { .. })));

    let approved = contain.request(&store, &apply, "alice", NOW).unwrap();
    let action_id = approved.action.as_ref().unwrap().id.clone();
    assert_eq!((approved.state.as_str(), approved.plan_id.as_str()), ("approved", plan_id.as_str()));
    // The action shares its plan's random part: the agent names a quarantine
    // by it, so the dry run showed the same path.
    assert_eq!(action_id.strip_prefix("a-"), plan_id.strip_prefix("p-"));
    let sent = verify(&public, &pending(&store, HOST, NOW).unwrap()[0], HOST, NOW).unwrap();
    assert_eq!((sent.id.as_str(), sent.dry_run, sent.approved_by.as_str()), (action_id.as_str(), false, "alice"));
    let mut held = result(&action_id, "done", "{\"held\":[\"4AB12C\"]}");
    held.output = "held 1\n\n of 2\n".into();
    take_results(&store, &report(HOST, 3, vec![held]), NOW).unwrap();
    assert_eq!(store.action(&action_id).unwrap().unwrap().state, "done");

    // Undo sends the reverse with the agent's own undo data.
    let undo = ContainRequest { op: "undo".into(), id: action_id.clone(), ..Default::default() };
    let reverse = contain.request(&store, &undo, "bob", NOW).unwrap();
    let reverse_action = reverse.action.unwrap();
    assert_eq!((reverse_action.kind.as_str(), reverse_action.undo_of.as_str()), ("release_queue", action_id.as_str()));
    assert_eq!(reverse_action.undo, "{\"held\":[\"4AB12C\"]}");

    // Once each: the plan is spent, and the undo on its way stands (until
    // it is refused, failed or expired, when it may be sent again).
    let again = contain.request(&store, &apply, "alice", NOW).unwrap_err();
    assert!(matches!(&again, ContainError::BadState { state, .. } if state == "applied"), "{again}");
    assert!(
        store.action(&plan_id).unwrap().unwrap().audit.last().unwrap().contains(&format!("applied as {action_id}"))
    );
    let twice = contain.request(&store, &undo, "bob", NOW).unwrap_err();
    assert!(matches!(twice, ContainError::AlreadyUndone { .. }), "{twice}");
    let reverse_id = reverse_action.id.clone();
    take_results(&store, &report(HOST, 4, vec![result(&reverse_id, "refused", "")]), NOW).unwrap();
    let retry = contain.request(&store, &undo, "bob", NOW).unwrap();
    assert_eq!(retry.action.unwrap().undo_of, action_id);

    // Every step is on the host's open case.
    let case = store.case(1).unwrap().unwrap();
    let notes: Vec<&str> = case.history.iter().filter(|e| e.action == "contain").map(|e| e.note.as_str()).collect();
    assert_eq!(notes.len(), 7, "{notes:?}");
    assert!(notes[0].starts_with("planned hold_queue") && notes[2].contains("hijacked mailbox"), "{notes:?}");
    assert!(notes[3].contains("done; ran: postsuper -h -; exit code 0; output: held 1 / of 2"), "{notes:?}");
    assert!(case.history.iter().any(|e| e.who == "bob"));
}

#[tokio::test]
async fn actions_expire_and_deleted_mail_has_no_undo() {
    let dir = tempfile::tempdir().unwrap();
    let (store, contain, _) = setup(dir.path()).await;
    let planned =
        contain.request(&store, &plan("delete_queue", SourceKind::Sender, "info@shop.example"), "ops", NOW).unwrap();
    let id = planned.action.unwrap().id;
    let later = NOW + 16 * 60_000;
    assert!(pending(&store, HOST, later).unwrap().is_empty());
    assert_eq!(store.action(&id).unwrap().unwrap().state, "expired");
    // A late result for a settled record changes nothing.
    take_results(&store, &report(HOST, 2, vec![result(&id, "done", "")]), later).unwrap();
    assert_eq!(store.action(&id).unwrap().unwrap().state, "expired");

    let planned =
        contain.request(&store, &plan("delete_queue", SourceKind::Sender, "info@shop.example"), "ops", NOW).unwrap();
    let plan_id = planned.action.unwrap().id;
    take_results(&store, &report(HOST, 3, vec![result(&plan_id, "done", "")]), NOW).unwrap();
    let apply = ContainRequest { op: "apply".into(), id: plan_id, reason: "spam".into(), ..Default::default() };
    let done_id = contain.request(&store, &apply, "ops", NOW).unwrap().action.unwrap().id;
    take_results(&store, &report(HOST, 4, vec![result(&done_id, "done", "")]), NOW).unwrap();
    let undo = ContainRequest { op: "undo".into(), id: done_id, ..Default::default() };
    assert!(matches!(contain.request(&store, &undo, "ops", NOW), Err(ContainError::NoUndo(_))));
}

#[tokio::test]
async fn an_action_taken_before_its_expiry_and_reported_after_it_is_recorded() {
    let dir = tempfile::tempdir().unwrap();
    let (store, contain, _) = setup(dir.path()).await;
    let planned =
        contain.request(&store, &plan("hold_queue", SourceKind::Sender, "info@shop.example"), "ops", NOW).unwrap();
    let plan_id = planned.action.unwrap().id;
    take_results(&store, &report(HOST, 2, vec![result(&plan_id, "done", "")]), NOW).unwrap();
    let apply = ContainRequest { op: "apply".into(), id: plan_id, reason: "spam".into(), ..Default::default() };
    let id = contain.request(&store, &apply, "ops", NOW).unwrap().action.unwrap().id;
    // The agent took it, then died; the controller gives up on it ...
    let later = NOW + 16 * 60_000;
    assert!(pending(&store, HOST, later).unwrap().is_empty());
    assert_eq!(store.action(&id).unwrap().unwrap().state, "expired");
    // ... and the agent's refusal of an expired copy changes nothing ...
    take_results(&store, &report(HOST, 3, vec![result(&id, "refused", "")]), later).unwrap();
    assert_eq!(store.action(&id).unwrap().unwrap().state, "expired");
    // ... but what it did before it died is recorded, once.
    take_results(&store, &report(HOST, 4, vec![result(&id, "interrupted", "")]), later).unwrap();
    let record = store.action(&id).unwrap().unwrap();
    assert_eq!(record.state, "interrupted");
    assert!(record.audit.last().unwrap().contains("after the controller had marked it expired"), "{:?}", record.audit);
    take_results(&store, &report(HOST, 5, vec![result(&id, "done", "")]), later).unwrap();
    assert_eq!(store.action(&id).unwrap().unwrap().state, "interrupted");
}

/// PHP names only `uid:basename`: the NOC gives the full path, which must end
/// in the reported name; the subscription is the one the script was reported
/// under (the agent refuses a quarantine without it).
#[tokio::test]
async fn a_script_plan_takes_a_full_path_ending_in_the_reported_name_and_the_scripts_subscription() {
    let dir = tempfile::tempdir().unwrap();
    let (store, contain, public) = setup(dir.path()).await;
    let path = "/var/www/vhosts/shop.example/httpdocs/wp-content/mailer.php";
    let quarantine = |script: &str| ContainRequest {
        script: script.into(),
        ..plan("quarantine_script", SourceKind::Script, "mailer.php")
    };
    let planned = contain.request(&store, &quarantine(path), "ops", NOW).unwrap();
    let sent = verify(&public, &pending(&store, HOST, NOW).unwrap()[0], HOST, NOW).unwrap();
    assert_eq!(sent.id, planned.action.unwrap().id);
    assert_eq!((sent.script.as_str(), sent.subscription.as_str()), (path, "shop.example"));

    let refused = |r: ContainRequest| contain.request(&store, &r, "ops", NOW).unwrap_err();
    // No path: the reported name alone cannot say which file.
    let missing = refused(quarantine(""));
    assert!(matches!(missing, ContainError::Missing { .. }) && missing.to_string().contains("--script"), "{missing}");
    assert!(matches!(refused(quarantine("mailer.php")), ContainError::Missing { .. }));
    // A path to another file, or one merely containing the name.
    for other in ["/var/www/vhosts/shop.example/httpdocs/other.php", "/etc/mailer.php.bak", "/x/mailer.php/"] {
        assert!(matches!(refused(quarantine(other)), ContainError::NotReported { .. }), "{other}");
    }
}

#[test]
fn a_case_note_carries_the_output_on_one_bounded_line() {
    use super::record::summary;
    assert_eq!(summary(""), "");
    assert_eq!(summary("a\n\n  b  \n"), "a / b");
    let long = summary(&"é".repeat(300));
    assert!(long.ends_with('…') && long.len() <= 200 + '…'.len_utf8(), "{long}");
}
