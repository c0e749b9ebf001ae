//! The transport's side of containment: what happens to a signed action
//! between the ack that carries it and the report that answers it. Real
//! Ed25519 keys, a real ledger on a temporary directory, fake `postqueue`
//! and `postsuper` scripts that record their calls. The kill -9 of the real
//! binary is in the end-to-end tests (`tests/tests/e2e/contain/crash.rs`);
//! here a dropped [`Containment`] is the crash: what it held in memory is gone.

#![allow(clippy::unwrap_used)]

use std::path::Path;
use std::time::Duration;

use rblfleet_proto::action::{ActionKey, generate_key};
use rblfleet_proto::v1::{self, ContainmentAction, HostReport, MtaKind, SignedAction, SourceStats};

use super::*;
use crate::command::fake_tool::script;
use crate::config::ActionsConfig;

const HOST: &str = "web07.example.net";
const SPAMMER: &str = "spam@example.com";

fn new_key() -> ActionKey {
    ActionKey::from_pkcs8(&generate_key().unwrap()).unwrap()
}

fn hex(key: &ActionKey) -> String {
    key.public_key().iter().map(|b| format!("{b:02x}")).collect()
}

/// An agent configuration with `[actions]` on for hold and release, fake
/// Postfix tools in `dir`, and one queued message of the spammer.
fn config(dir: &Path, key: &ActionKey) -> Config {
    let mut config = Config::from_toml_str(&format!(
        "host_id = {HOST:?}\n[controller]\nurl = \"http://127.0.0.1:1\"\n[outbox]\ndir = {:?}\n",
        dir.join("outbox").display().to_string()
    ))
    .unwrap();
    let d = dir.display();
    std::fs::write(
        dir.join("queue.jsonl"),
        format!(
            "{{\"queue_name\":\"active\",\"queue_id\":\"3F1A2B3C4D\",\"arrival_time\":1,\"message_size\":9,\
             \"sender\":\"{SPAMMER}\",\"recipients\":[{{\"address\":\"x@example.org\"}}]}}\n"
        ),
    )
    .unwrap();
    config.actions = ActionsConfig {
        enabled: true,
        controller_key: hex(key),
        allow: vec![ActionKind::HoldQueue, ActionKind::ReleaseQueue],
        postqueue: script(dir, "postqueue", &format!("cat {d}/queue.jsonl")),
        postsuper: script(dir, "postsuper", &format!("printf '%s\\n' \"$*\" >> {d}/postsuper.args")),
        timeout: Duration::from_secs(10),
        ..ActionsConfig::default()
    };
    config
}

fn now() -> i64 {
    now_ms()
}

fn action(id: &str, kind: &str, source_id: &str) -> ContainmentAction {
    ContainmentAction {
        id: id.into(),
        host_id: HOST.into(),
        kind: kind.into(),
        source_kind: v1::SourceKind::Sender as i32,
        source_id: source_id.into(),
        issued_ms: now(),
        expires_ms: now() + 15 * 60_000,
        ..ContainmentAction::default()
    }
}

/// Opens the transport and lets it see a report naming the spammer.
fn open(config: &Config) -> Containment {
    let mut contain = Containment::open(config, MtaKind::Postfix).unwrap();
    contain.note(&HostReport {
        sources: vec![SourceStats {
            kind: v1::SourceKind::Sender as i32,
            id: SPAMMER.into(),
            ..SourceStats::default()
        }],
        ..HostReport::default()
    });
    contain
}

/// Hands `signed` over as one ack and returns its answer.
fn answer(contain: &mut Containment, signed: SignedAction, id: &str) -> v1::ActionResult {
    contain.handle(HOST, &[signed]);
    contain.results().into_iter().find(|r| r.id == id).unwrap()
}

fn calls(dir: &Path) -> String {
    std::fs::read_to_string(dir.join("postsuper.args")).unwrap_or_default()
}

#[test]
fn every_refusal_of_the_issue_names_its_reason_and_runs_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let key = new_key();
    let config = config(dir.path(), &key);
    let mut contain = open(&config);
    let long = format!("{}@example.com", "a".repeat(5000));
    let mut cases: Vec<(SignedAction, String, &str)> = vec![
        (new_key().sign(&action("f1", "hold_queue", SPAMMER)), "f1".into(), "signature does not verify"),
        (
            key.sign(&ContainmentAction { host_id: "web08.example.net".into(), ..action("h1", "hold_queue", SPAMMER) }),
            "h1".into(),
            "not for this host",
        ),
        (
            key.sign(&ContainmentAction { expires_ms: now() - 1, ..action("e1", "hold_queue", SPAMMER) }),
            "e1".into(),
            "expired",
        ),
        (
            key.sign(&ContainmentAction { expires_ms: now() + 30 * 3_600_000, ..action("t1", "hold_queue", SPAMMER) }),
            "t1".into(),
            "accepts at most 1440",
        ),
        (key.sign(&action("k1", "delete_queue", SPAMMER)), "k1".into(), "not in this host's [actions] allow list"),
        (key.sign(&action("u1", "hold_queue", "boss@example.com")), "u1".into(), "not a source this agent reported"),
    ];
    let injections = [
        "spam@example.com; rm -rf /",
        "spam @example.com",
        "'spam'@example.com",
        "\"spam\"@example.com",
        "$(reboot)@example.com",
        "../../etc/passwd",
        "spam@example.com\nALL",
        long.as_str(),
    ];
    for (i, bad) in injections.iter().enumerate() {
        let id = format!("i{i}");
        cases.push((key.sign(&action(&id, "hold_queue", bad)), id, "source_id: "));
    }
    // A signed, tampered action: one flipped byte.
    let mut tampered = key.sign(&action("x1", "hold_queue", SPAMMER));
    let last = tampered.action.len() - 1;
    tampered.action[last] ^= 1;
    for (signed, id, words) in cases {
        let result = answer(&mut contain, signed, &id);
        assert_eq!(result.status, "refused", "{id}: {result:?}");
        assert!(result.reason.contains(words), "{id}: {}", result.reason);
        assert!(result.commands.is_empty(), "{id}");
    }
    contain.handle(HOST, &[tampered]);
    assert!(contain.results().iter().all(|r| r.id != "x1" || r.status == "refused"));
    assert_eq!(calls(dir.path()), "", "nothing ran");

    // The same host with [actions] off refuses a perfectly good action.
    let mut off = config.clone();
    off.actions.enabled = false;
    let mut contain = open(&off);
    let result = answer(&mut contain, key.sign(&action("d1", "hold_queue", SPAMMER)), "d1");
    assert_eq!((result.status.as_str(), result.reason.contains("disabled")), ("refused", true), "{result:?}");
    assert_eq!(calls(dir.path()), "");
}

#[test]
fn a_result_lost_with_the_process_is_reported_after_the_restart_and_never_rerun() {
    let dir = tempfile::tempdir().unwrap();
    let key = new_key();
    let config = config(dir.path(), &key);
    let hold = action("a-crash", "hold_queue", SPAMMER);
    let mut contain = open(&config);
    let done = answer(&mut contain, key.sign(&hold), "a-crash");
    assert_eq!(done.status, "done", "{done:?}");
    assert_eq!(calls(dir.path()), "-h -\n");
    // The agent dies before a report carries the result.
    drop(contain);

    // After the restart the result goes with the first report; the
    // controller's resend (even once expired) gets the same answer.
    let mut contain = open(&config);
    assert_eq!(contain.results(), std::slice::from_ref(&done));
    contain.results_stored();
    let expired = key.sign(&ContainmentAction { expires_ms: now() - 1, ..hold.clone() });
    assert_eq!(answer(&mut contain, expired, "a-crash"), done);
    contain.results_stored();
    assert_eq!(calls(dir.path()), "-h -\n", "ran once");
    // Once a stored report carries it, a restart does not send it again.
    drop(contain);
    assert!(open(&config).results().is_empty());

    // Killed while the tool ran: reported once as interrupted, never run.
    let ledger = ActionLedger::in_outbox(&config.outbox.dir).unwrap();
    ledger.start("a-killed", now() - 10).unwrap();
    let mut contain = open(&config);
    let results = contain.results();
    assert_eq!(results.len(), 1);
    assert_eq!((results[0].id.as_str(), results[0].status.as_str()), ("a-killed", "interrupted"));
    contain.results_stored();
    let resent = answer(&mut contain, key.sign(&action("a-killed", "hold_queue", SPAMMER)), "a-killed");
    assert_eq!(resent.status, "interrupted");
    assert_eq!(calls(dir.path()), "-h -\n");
}

#[test]
fn the_reported_sources_outlive_a_restart_and_only_they_do() {
    let dir = tempfile::tempdir().unwrap();
    let key = new_key();
    let config = config(dir.path(), &key);
    let mut contain = open(&config);
    contain.results_stored(); // the report that carried the spammer is stored
    drop(contain);

    // Restarted, with no new report yet: the spammer can still be held.
    let mut contain = Containment::open(&config, MtaKind::Postfix).unwrap();
    let result = answer(&mut contain, key.sign(&action("m1", "hold_queue", SPAMMER)), "m1");
    assert_eq!(result.status, "done", "{result:?}");

    // The memory itself: bounded in age and in count.
    let ledger_dir = dir.path().join("outbox/actions");
    let source = |id: &str| ReportedSource { kind: Some(SourceKind::Sender), id: id.into(), ..Default::default() };
    let t0 = now();
    let mut memory = SourceMemory::load(&ledger_dir, t0);
    assert!(memory.contains(Some(SourceKind::Sender), SPAMMER));
    memory.note(source("old@example.com"), t0);
    for i in 0..crate::actions::memory::MAX_SOURCES {
        memory.note(source(&format!("n{i}@example.com")), t0 + 1 + i64::try_from(i).unwrap());
    }
    assert!(!memory.contains(Some(SourceKind::Sender), "old@example.com"), "the least recently seen went first");
    assert_eq!(memory.sources().len(), crate::actions::memory::MAX_SOURCES);
    memory.save().unwrap();
    let later = SourceMemory::load(&ledger_dir, t0 + crate::actions::memory::MAX_AGE_MS + 10_000);
    assert!(later.sources().is_empty(), "a week without a report: forgotten");
}
