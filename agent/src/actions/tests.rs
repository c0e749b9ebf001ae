//! The executor against fake `postqueue`, `postsuper`, `plesk` and `sudo`
//! (shell scripts that record their argv and stdin) and the real `mv` on a
//! temporary vhosts tree. Refusals are in `tests/refusals.rs`.

#![allow(clippy::unwrap_used)]

use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::time::Duration;

use rblfleet_proto::v1::MtaKind;

use super::*;
use crate::command::fake_tool::script;
use crate::config::ActionsConfig;

mod ledger;
mod refusals;

/// A temporary host: fake tools, a queue listing, a vhosts tree.
pub(super) struct Host {
    pub dir: tempfile::TempDir,
    pub config: ActionsConfig,
}

impl Host {
    pub fn new() -> Host {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path().display().to_string();
        let bin = dir.path().join("bin");
        std::fs::create_dir(&bin).unwrap();
        let postqueue = script(&bin, "postqueue", &format!("cat {d}/queue.jsonl"));
        let postsuper = script(
            &bin,
            "postsuper",
            &format!("printf '%s\\n' \"$*\" >> {d}/postsuper.args\ncat >> {d}/postsuper.stdin"),
        );
        let plesk = script(
            &bin,
            "plesk",
            &format!("printf '%s\\n' \"$*\" >> {d}/plesk.args\nif [ \"$3\" = --info ]; then cat {d}/plesk.info; fi"),
        );
        let sudo = script(
            &bin,
            "sudo",
            &format!("printf '%s\\n' \"$*\" >> {d}/sudo.args\n[ \"$1\" = -n ] || exit 1\nshift\nexec \"$@\""),
        );
        std::fs::write(dir.path().join("queue.jsonl"), "").unwrap();
        std::fs::write(dir.path().join("plesk.info"), "Outgoing messages limit: 250\n").unwrap();
        std::fs::create_dir_all(dir.path().join("vhosts/example.com/httpdocs")).unwrap();
        std::fs::create_dir(dir.path().join("quarantine")).unwrap();
        let config = ActionsConfig {
            enabled: true,
            controller_key: "00".repeat(32),
            allow: ActionKind::ALL.to_vec(),
            sudo: false,
            sudo_path: sudo,
            postsuper,
            postqueue,
            plesk,
            mv: PathBuf::from(if Path::new("/bin/mv").exists() { "/bin/mv" } else { "/usr/bin/mv" }),
            vhosts: dir.path().join("vhosts"),
            quarantine_dir: dir.path().join("quarantine"),
            timeout: Duration::from_secs(10),
            max_queue_ids: 100,
        };
        Host { dir, config }
    }

    pub fn executor(&self) -> Executor {
        Executor::new(&self.config, ActionLedger::in_outbox(self.dir.path()).unwrap())
    }

    pub fn queue(&self, entries: &[(&str, &str, &str)]) {
        let lines: String = entries
            .iter()
            .map(|(queue, id, sender)| {
                format!(
                    "{{\"queue_name\":\"{queue}\",\"queue_id\":\"{id}\",\"arrival_time\":1,\"message_size\":9,\
                     \"sender\":\"{sender}\",\"recipients\":[{{\"address\":\"x@example.org\"}}]}}\n"
                )
            })
            .collect();
        std::fs::write(self.dir.path().join("queue.jsonl"), lines).unwrap();
    }

    /// A recorded file (args or stdin), empty when the tool never ran.
    pub fn log(&self, name: &str) -> String {
        std::fs::read_to_string(self.dir.path().join(name)).unwrap_or_default()
    }

    pub fn script(&self, relative: &str, body: &str) -> PathBuf {
        let path = self.dir.path().join("vhosts/example.com").join(relative);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, body).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o640)).unwrap();
        path
    }
}

pub(super) fn reported(uid: Option<u32>) -> Reported {
    let source = |kind, id: &str| ReportedSource { kind: Some(kind), id: id.into(), ..ReportedSource::default() };
    Reported {
        mta: MtaKind::Postfix,
        sources: vec![
            source(SourceKind::Sender, "spam@example.com"),
            source(SourceKind::SaslUser, "info@example.com"),
            ReportedSource {
                kind: Some(SourceKind::LocalUser),
                id: "10001".into(),
                uid: Some(10001),
                subscription: "example.com".into(),
                queue_ids: vec!["4AA091855DA0".into()],
            },
            ReportedSource {
                kind: Some(SourceKind::Script),
                id: "10001:mailer.php".into(),
                uid,
                subscription: "example.com".into(),
                queue_ids: Vec::new(),
            },
        ],
    }
}

pub(super) fn request(id: &str, kind: ActionKind, source_kind: SourceKind, source_id: &str) -> Request {
    Request {
        id: id.into(),
        kind,
        source_kind,
        source_id: source_id.into(),
        subscription: String::new(),
        script: String::new(),
        undo: String::new(),
    }
}

#[test]
fn hold_then_undo_releases_exactly_the_held_ids_and_delete_takes_every_queue() {
    let host = Host::new();
    host.queue(&[
        ("active", "3F1A2B3C4D", "spam@example.com"),
        ("deferred", "3Bhxhj6SfMz4n1F", "SPAM@example.com"),
        ("deferred", "AAAA111111", "someone@example.net"),
        ("hold", "BBBB222222", "spam@example.com"),
        ("deferred", "4AA091855DA0", "www-data@host.example"),
    ]);
    let executor = host.executor();
    let hold = request("a1", ActionKind::HoldQueue, SourceKind::Sender, "spam@example.com");
    let plan = executor.plan(&hold, &reported(None)).unwrap();
    assert_eq!(plan.queue_ids, ["3Bhxhj6SfMz4n1F", "3F1A2B3C4D"]);
    assert_eq!(host.log("postsuper.args"), "", "plan changes nothing");

    let result = executor.run(&hold, &reported(None)).unwrap();
    assert_eq!(result.status, Status::Done, "{result:?}");
    assert_eq!(host.log("postsuper.args"), "-h -\n");
    assert_eq!(host.log("postsuper.stdin"), "3Bhxhj6SfMz4n1F\n3F1A2B3C4D\n");
    assert_eq!(result.commands, [format!("{} -h - < 2 id(s) on stdin", host.config.postsuper.display())]);
    let undo = result.undo.clone().unwrap();
    assert_eq!(undo, UndoData::Release { ids: vec!["3Bhxhj6SfMz4n1F".into(), "3F1A2B3C4D".into()] });

    // Run again: the ledger answers, postsuper does not run twice.
    assert_eq!(executor.run(&hold, &reported(None)).unwrap(), result);
    assert_eq!(host.log("postsuper.args"), "-h -\n");

    // Now held (one was delivered meanwhile); undo releases what is still held of those.
    host.queue(&[("hold", "3F1A2B3C4D", "spam@example.com"), ("hold", "BBBB222222", "spam@example.com")]);
    let released = executor.undo("a2", &result, &reported(None)).unwrap();
    assert_eq!(released.status, Status::Done, "{released:?}");
    assert_eq!(released.kind, Some(ActionKind::ReleaseQueue));
    assert_eq!(host.log("postsuper.args"), "-h -\n-H -\n");
    assert!(host.log("postsuper.stdin").ends_with("3F1A2B3C4D\n3F1A2B3C4D\n"), "only the recorded id is released");

    // A uid is matched through the queue ids the log tied to it.
    host.queue(&[("deferred", "4AA091855DA0", "www-data@host.example"), ("hold", "BBBB222222", "spam@example.com")]);
    let by_uid =
        executor.run(&request("a3", ActionKind::DeleteQueue, SourceKind::LocalUser, "10001"), &reported(None)).unwrap();
    assert_eq!(by_uid.status, Status::Done, "{by_uid:?}");
    let deleted = executor
        .run(&request("a4", ActionKind::DeleteQueue, SourceKind::Sender, "spam@example.com"), &reported(None))
        .unwrap();
    assert_eq!(deleted.status, Status::Done);
    assert_eq!(deleted.undo, None, "delete cannot be undone");
    assert_eq!(host.log("postsuper.args"), "-h -\n-H -\n-d -\n-d -\n");
    assert!(host.log("postsuper.stdin").ends_with("4AA091855DA0\nBBBB222222\n"));

    // Nothing queued: done, nothing run.
    host.queue(&[]);
    let none = executor
        .run(&request("a5", ActionKind::HoldQueue, SourceKind::Sender, "spam@example.com"), &reported(None))
        .unwrap();
    assert_eq!(
        (none.status, none.commands.len(), none.output.as_str()),
        (Status::Done, 0, "no queued message matches")
    );
}

#[test]
fn pause_records_the_previous_limit_and_restore_puts_it_back() {
    let host = Host::new();
    let executor = host.executor();
    let pause = request("p1", ActionKind::PauseMailbox, SourceKind::SaslUser, "info@example.com");
    let paused = executor.run(&pause, &reported(None)).unwrap();
    assert_eq!(paused.status, Status::Done, "{paused:?}");
    assert_eq!(
        host.log("plesk.args"),
        "bin mail --info info@example.com\nbin mail --update info@example.com -outgoing-messages-mbox-limit 0\n"
    );
    let undo = paused.undo.clone().unwrap();
    assert_eq!(
        undo,
        UndoData::Limit {
            target: LimitTarget::Mailbox("info@example.com".into()),
            previous: "250".into(),
            known: true
        }
    );
    let restored = executor.undo("p2", &paused, &reported(None)).unwrap();
    assert_eq!(restored.status, Status::Done, "{restored:?}");
    assert!(host.log("plesk.args").ends_with("bin mail --update info@example.com -outgoing-messages-mbox-limit 250\n"));

    // A subscription whose limit cannot be read: recorded as unknown, undo sets 'default'.
    std::fs::write(host.dir.path().join("plesk.info"), "Hosting: yes\n").unwrap();
    let mut sub = request("p3", ActionKind::PauseSubscription, SourceKind::LocalUser, "10001");
    sub.subscription = "example.com".into();
    let plan = executor.plan(&sub, &reported(None)).unwrap();
    assert!(plan.summary.contains("could not be read"), "{}", plan.summary);
    let paused = executor.run(&sub, &reported(None)).unwrap();
    assert!(
        host.log("plesk.args")
            .ends_with("bin subscription_settings --update example.com -outgoing-messages-subscription-limit 0\n")
    );
    let restored = executor.undo("p4", &paused, &reported(None)).unwrap();
    assert_eq!(restored.status, Status::Done, "{restored:?}");
    assert!(
        host.log("plesk.args").ends_with(
            "bin subscription_settings --update example.com -outgoing-messages-subscription-limit default\n"
        )
    );
}

#[test]
fn quarantine_moves_the_script_keeping_owner_and_mode_and_restore_puts_it_back() {
    let host = Host::new();
    let path = host.script("httpdocs/wp-content/mailer.php", "<?php mail(); ?>");
    let root = nix_is_root();
    if root {
        std::os::unix::fs::chown(&path, Some(10001), Some(10002)).unwrap();
    }
    let owner = std::fs::metadata(&path).unwrap();
    let executor = host.executor();
    let mut quarantine = request("q1", ActionKind::QuarantineScript, SourceKind::Script, "10001:mailer.php");
    quarantine.subscription = "example.com".into();
    quarantine.script = path.display().to_string();
    let result = executor.run(&quarantine, &reported(Some(owner.uid()))).unwrap();
    assert_eq!(result.status, Status::Done, "{result:?}");
    let moved = host.config.quarantine_dir.join("q1");
    assert!(!path.exists());
    let meta = std::fs::metadata(&moved).unwrap();
    assert_eq!((meta.uid(), meta.gid(), meta.mode() & 0o7777), (owner.uid(), owner.gid(), 0o640));
    let Some(UndoData::Script { original, quarantined, mode, .. }) = &result.undo else { panic!("{result:?}") };
    assert_eq!((original, quarantined, *mode), (&path, &moved, 0o640));

    let restored = executor.undo("q2", &result, &reported(None)).unwrap();
    assert_eq!(restored.status, Status::Done, "{restored:?}");
    assert_eq!(std::fs::read_to_string(&path).unwrap(), "<?php mail(); ?>");
    let meta = std::fs::metadata(&path).unwrap();
    assert_eq!((meta.uid(), meta.gid(), meta.mode() & 0o7777), (owner.uid(), owner.gid(), 0o640));
    assert!(!moved.exists());
}

fn nix_is_root() -> bool {
    std::fs::metadata("/proc/self").map(|m| m.uid() == 0).unwrap_or(false)
}

#[test]
fn privileged_commands_go_through_sudo_n_and_postqueue_never_does() {
    let mut host = Host::new();
    host.config.sudo = true;
    host.queue(&[("active", "3F1A2B3C4D", "spam@example.com")]);
    let result = host
        .executor()
        .run(&request("s1", ActionKind::HoldQueue, SourceKind::Sender, "spam@example.com"), &reported(None))
        .unwrap();
    assert_eq!(result.status, Status::Done, "{result:?}");
    assert_eq!(host.log("sudo.args"), format!("-n {} -h -\n", host.config.postsuper.display()));
    assert_eq!(host.log("postsuper.stdin"), "3F1A2B3C4D\n");
}

#[test]
fn a_failing_or_hanging_tool_is_a_failed_result_with_its_reason() {
    let mut host = Host::new();
    host.queue(&[("active", "3F1A2B3C4D", "spam@example.com")]);
    let bin = host.dir.path().join("bin");
    host.config.postsuper =
        script(&bin, "postsuper-fails", "echo 'postsuper: fatal: queue_id 3F1A2B3C4D: not found' >&2\nexit 1");
    let failed = host
        .executor()
        .run(&request("f1", ActionKind::HoldQueue, SourceKind::Sender, "spam@example.com"), &reported(None))
        .unwrap();
    assert_eq!((failed.status, failed.exit_code), (Status::Failed, 1));
    assert!(failed.output.contains("fatal: queue_id"), "{failed:?}");
    assert!(failed.undo.is_some(), "a hold that failed part-way can still be released");

    host.config.postsuper = script(&bin, "postsuper-chatty", "cat >/dev/null\nseq 1 100000\nexit 3");
    let chatty = host
        .executor()
        .run(&request("f3", ActionKind::HoldQueue, SourceKind::Sender, "spam@example.com"), &reported(None))
        .unwrap();
    assert_eq!((chatty.status, chatty.exit_code), (Status::Failed, 3));
    assert!(chatty.output.len() <= 4096 && chatty.output.starts_with("1\n2\n"), "{}", chatty.output.len());

    host.config.postsuper = script(&bin, "postsuper-hangs", "exec sleep 30");
    host.config.timeout = Duration::from_millis(300);
    let hung = host
        .executor()
        .run(&request("f2", ActionKind::HoldQueue, SourceKind::Sender, "spam@example.com"), &reported(None))
        .unwrap();
    assert_eq!(hung.status, Status::Failed);
    assert!(hung.reason.contains("did not finish within 300ms"), "{hung:?}");
}

#[test]
fn started_but_not_done_is_interrupted_and_never_run_again() {
    let host = Host::new();
    host.queue(&[("active", "3F1A2B3C4D", "spam@example.com")]);
    // The agent died after writing "started": simulate, then reopen.
    ActionLedger::in_outbox(host.dir.path()).unwrap().start("c1", 1_700_000_000_000).unwrap();
    let ledger = ActionLedger::in_outbox(host.dir.path()).unwrap();
    assert_eq!(ledger.interrupted().unwrap(), ["c1"]);
    let executor = Executor::new(&host.config, ledger);
    let hold = request("c1", ActionKind::HoldQueue, SourceKind::Sender, "spam@example.com");
    let result = executor.run(&hold, &reported(None)).unwrap();
    assert_eq!((result.status, result.kind), (Status::Interrupted, Some(ActionKind::HoldQueue)));
    assert_eq!(result.started_ms, 1_700_000_000_000);
    assert!(result.reason.contains("not run again"), "{}", result.reason);
    assert_eq!(host.log("postsuper.args"), "", "never run twice");
    assert_eq!(executor.run(&hold, &reported(None)).unwrap(), result, "the same answer every time");
    // A second start of one id is refused by the ledger itself.
    assert!(matches!(executor.ledger().start("c1", 1), Err(LedgerError::AlreadyStarted(_))));
    assert!(executor.ledger().interrupted().unwrap().is_empty());
}

#[test]
fn the_table_has_one_row_per_step_and_the_sudoers_drop_in_covers_every_privileged_row() {
    use super::table::{Arg, Step, TABLE, Tool};
    for kind in ActionKind::ALL {
        assert_eq!(TABLE.iter().filter(|r| r.step == Step::Act(kind)).count(), 1, "{kind}");
    }
    let sudoers =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../deploy/sudoers/rblfleet-agent-actions"))
            .unwrap();
    for row in TABLE.iter().filter(|r| r.privileged) {
        let program = match row.tool {
            Tool::Postsuper => "/usr/sbin/postsuper",
            Tool::Plesk => "/usr/sbin/plesk",
            Tool::Mv => "/bin/mv",
            Tool::Postqueue => panic!("postqueue is never privileged"),
        };
        let literals: Vec<&str> =
            row.args.iter().map_while(|a| if let Arg::Lit(t) = a { Some(*t) } else { None }).collect();
        let prefix = if row.tool == Tool::Postsuper {
            format!("{program} {}", literals.join(" "))
        } else {
            format!("{program} ^{}", literals.join(" "))
        };
        assert!(sudoers.contains(&prefix), "sudoers lacks {prefix:?} ({:?})", row.step);
        assert!(row.source.starts_with("https://"), "{:?}", row.step);
    }
    // visudo checks the syntax where it is installed.
    match std::process::Command::new("visudo")
        .arg("-cf")
        .arg(concat!(env!("CARGO_MANIFEST_DIR"), "/../deploy/sudoers/rblfleet-agent-actions"))
        .output()
    {
        Ok(out) => assert!(
            out.status.success(),
            "visudo: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
        Err(_) => println!("WARNING: visudo not installed; the sudoers drop-in's syntax was not checked"),
    }
}

#[test]
fn actions_are_off_by_default_and_the_section_is_checked() {
    let base = "[controller]\nurl = \"http://127.0.0.1:1\"\n";
    let config = crate::Config::from_toml_str(base).unwrap();
    assert!(!config.actions.enabled && config.actions.allow.is_empty());
    let key = "ab".repeat(32);
    let on = crate::Config::from_toml_str(&format!(
        "{base}[actions]\nenabled = true\ncontroller_key = \"{key}\"\nallow = [\"hold_queue\"]\n"
    ))
    .unwrap();
    assert_eq!(on.actions.allow, [ActionKind::HoldQueue]);
    assert_eq!(on.actions.controller_key_bytes(), Some([0xab; 32]));
    let keyless = crate::Config::from_toml_str(&format!("{base}[actions]\nenabled = true\n")).unwrap_err();
    assert!(keyless.to_string().contains("actions.controller_key: required"), "{keyless}");
    let bad = crate::Config::from_toml_str(&format!("{base}[actions]\ncontroller_key = \"xyz\"\n")).unwrap_err();
    assert!(bad.to_string().contains("64 hex digits"), "{bad}");
    let unknown = crate::Config::from_toml_str(&format!("{base}[actions]\nallow = [\"rm_rf\"]\n")).unwrap_err();
    assert!(unknown.to_string().contains("actions.allow"), "{unknown}");
    let relative = crate::Config::from_toml_str(&format!("{base}[actions]\npostsuper = \"postsuper\"\n")).unwrap_err();
    assert!(relative.to_string().contains("actions.postsuper: postsuper is not an absolute path"), "{relative}");
}
