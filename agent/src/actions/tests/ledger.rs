//! The ledger across restarts: unreported results come back, interrupted
//! ids are settled once, and pruning keeps it bounded without forgetting
//! anything a valid signed action or an undo could still need.

use super::*;
use crate::actions::ledger::{MARGIN_MS, UNDO_RETENTION_MS};

const T0: i64 = 1_700_000_000_000;

fn done(id: &str, finished_ms: i64, undo: Option<UndoData>) -> ActionResult {
    ActionResult {
        id: id.into(),
        kind: Some(ActionKind::HoldQueue),
        status: Status::Done,
        exit_code: 0,
        commands: vec!["postsuper -h -".into()],
        output: String::new(),
        reason: String::new(),
        undo,
        started_ms: finished_ms,
        finished_ms,
    }
}

fn files(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> =
        std::fs::read_dir(dir).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect();
    names.sort();
    names
}

#[test]
fn results_no_stored_report_carries_come_back_after_a_restart_once_each() {
    let dir = tempfile::tempdir().unwrap();
    let ledger = ActionLedger::in_outbox(dir.path()).unwrap();
    ledger.start("a1", T0).unwrap();
    ledger.finish(&done("a1", T0 + 5, None)).unwrap();
    ledger.start("a2", T0 + 10).unwrap(); // the agent dies while a2 runs
    ledger.finish(&done("a0", T0 - 5, None)).unwrap(); // a refusal: never started

    let ledger = ActionLedger::in_outbox(dir.path()).unwrap();
    let unreported = ledger.unreported(T0 + 100).unwrap();
    let summary: Vec<(&str, Status)> = unreported.iter().map(|r| (r.id.as_str(), r.status)).collect();
    assert_eq!(summary, [("a0", Status::Done), ("a1", Status::Done), ("a2", Status::Interrupted)]);
    assert_eq!(unreported[2].started_ms, T0 + 10);
    assert!(ledger.interrupted().unwrap().is_empty(), "settled as interrupted, once");

    // A stored report carries a0 and a2; a1's mark was lost in a crash.
    ledger.mark_reported("a0").unwrap();
    ledger.mark_reported("a2").unwrap();
    ledger.mark_reported("p-dry-run").unwrap(); // never in the ledger: no stray mark
    let again: Vec<String> = ledger.unreported(T0 + 200).unwrap().into_iter().map(|r| r.id).collect();
    assert_eq!(again, ["a1"]);
    assert!(!files(&dir.path().join("actions")).iter().any(|f| f.starts_with("p-dry-run")));
}

#[test]
fn pruning_forgets_only_what_no_valid_action_or_undo_can_need_and_stays_bounded() {
    let dir = tempfile::tempdir().unwrap();
    let ledger = ActionLedger::in_outbox(dir.path()).unwrap();
    let release = UndoData::Release { ids: vec!["3F1A2B3C4D".into()] };
    let retention = MAX_TTL_MS + MARGIN_MS;
    ledger.finish(&done("old", T0, None)).unwrap();
    ledger.finish(&done("recent", T0 + 1000, None)).unwrap();
    ledger.finish(&done("undoable", T0, Some(release.clone()))).unwrap();
    ledger.finish(&done("unreported", T0, None)).unwrap();
    ledger.start("running", T0).unwrap();
    for id in ["old", "recent", "undoable"] {
        ledger.mark_reported(id).unwrap();
    }

    // Nothing is forgotten while a signed copy could still be valid.
    assert_eq!(ledger.prune(T0 + retention).unwrap(), 0);
    // Past the longest expiry and its margin: only the reported result
    // without undo data goes, with every file of its id.
    assert_eq!(ledger.prune(T0 + retention + 500).unwrap(), 1);
    assert!(matches!(ledger.get("old").unwrap(), LedgerEntry::New));
    assert!(!files(&dir.path().join("actions")).iter().any(|f| f.starts_with("old.")));
    for id in ["recent", "undoable", "unreported"] {
        assert!(matches!(ledger.get(id).unwrap(), LedgerEntry::Done(_)), "{id}");
    }
    assert!(matches!(ledger.get("running").unwrap(), LedgerEntry::Started { .. }));
    // An undo can still find what the hold recorded, for weeks.
    assert!(ledger.find_undo(&release).unwrap().is_some());
    assert_eq!(ledger.prune(T0 + UNDO_RETENTION_MS + 1).unwrap(), 2, "recent and undoable");
    assert!(ledger.find_undo(&release).unwrap().is_none());
    assert!(matches!(ledger.get("unreported").unwrap(), LedgerEntry::Done(_)), "never before it is reported");

    // Bounded whatever the ages: the oldest reported results go first.
    for i in 0..5 {
        let id = format!("n{i}");
        ledger.finish(&done(&id, T0 + i, None)).unwrap();
        ledger.mark_reported(&id).unwrap();
    }
    assert_eq!(ledger.prune_to(T0, 3).unwrap(), 2);
    let left: Vec<bool> =
        (0..5).map(|i| matches!(ledger.get(&format!("n{i}")).unwrap(), LedgerEntry::Done(_))).collect();
    assert_eq!(left, [false, false, true, true, true]);
}
