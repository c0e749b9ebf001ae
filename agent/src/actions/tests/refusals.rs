//! Refusals: nothing runs, and the reason names what was wrong.

use super::*;

/// Runs `request` and asserts it was refused without running any tool.
fn refused(host: &Host, request: &Request, reported: &Reported) -> String {
    let result = host.executor().run(request, reported).unwrap();
    assert_eq!(result.status, Status::Refused, "{request:?} → {result:?}");
    assert!(result.commands.is_empty());
    for log in ["postsuper.args", "plesk.args", "sudo.args"] {
        assert_eq!(host.log(log), "", "{log} after {request:?}");
    }
    result.reason
}

#[test]
fn disabled_or_not_allowed_refuses_before_anything_else() {
    let mut host = Host::new();
    host.queue(&[("active", "3F1A2B3C4D", "spam@example.com")]);
    let hold = request("r1", ActionKind::HoldQueue, SourceKind::Sender, "spam@example.com");
    host.config.enabled = false;
    assert!(refused(&host, &hold, &reported(None)).contains("disabled"));
    host.config.enabled = true;
    host.config.allow = vec![ActionKind::ReleaseQueue];
    let hold = request("r2", ActionKind::HoldQueue, SourceKind::Sender, "spam@example.com");
    assert_eq!(refused(&host, &hold, &reported(None)), "hold_queue is not in this host's [actions] allow list");
    assert_eq!(host.executor().plan(&hold, &reported(None)), Err(Refusal::NotAllowed(ActionKind::HoldQueue)));
}

#[test]
fn a_source_the_agent_never_reported_is_refused() {
    let host = Host::new();
    host.queue(&[("active", "3F1A2B3C4D", "victim@example.com")]);
    let reason = refused(
        &host,
        &request("r3", ActionKind::DeleteQueue, SourceKind::Sender, "victim@example.com"),
        &reported(None),
    );
    assert!(reason.contains("not a source this agent reported"), "{reason}");
    // Reported as a sender, asked as a SASL user: still unknown.
    let reason = refused(
        &host,
        &request("r4", ActionKind::PauseMailbox, SourceKind::SaslUser, "spam@example.com"),
        &reported(None),
    );
    assert!(reason.contains("not a source this agent reported"), "{reason}");
    // A pause of a subscription other than the one reported for the uid.
    let mut sub = request("r5", ActionKind::PauseSubscription, SourceKind::LocalUser, "10001");
    sub.subscription = "other.example".into();
    assert!(refused(&host, &sub, &reported(None)).starts_with("subscription: other.example is not the subscription"));
}

#[test]
fn queue_actions_on_qmail_or_mailenable_are_unsupported_with_a_reason() {
    let host = Host::new();
    for (mta, words) in [(MtaKind::Qmail, "qmail has no documented command"), (MtaKind::Mailenable, "MailEnable")] {
        let reported = Reported { mta, ..reported(None) };
        let reason =
            refused(&host, &request("r6", ActionKind::HoldQueue, SourceKind::Sender, "spam@example.com"), &reported);
        assert!(reason.contains(words), "{reason}");
        std::fs::remove_dir_all(host.dir.path().join("actions")).unwrap();
    }
}

const INJECTIONS: &[&str] = &[
    "spam@example.com; rm -rf /",
    "spam@example.com -d ALL",
    "\"spam\"@example.com",
    "'spam'@example.com",
    "$(reboot)@example.com",
    "`id`@example.com",
    "spam@example.com\nALL",
    "spam@example.com\0",
    "../../etc/passwd",
    "-d",
    "spam@exa mple.com",
];

#[test]
fn injection_in_every_identifier_is_refused_naming_the_field() {
    let host = Host::new();
    host.queue(&[("active", "3F1A2B3C4D", "spam@example.com")]);
    let long = format!("{}@example.com", "a".repeat(5000));
    let mut n = 0;
    let mut next = || {
        n += 1;
        format!("i{n}")
    };
    for bad in INJECTIONS.iter().copied().chain([long.as_str()]) {
        // Every source kind's id, with a reported source of exactly that id
        // (the agent's own evidence is not trusted either).
        for (kind, action) in [
            (SourceKind::Sender, ActionKind::HoldQueue),
            (SourceKind::SaslUser, ActionKind::PauseMailbox),
            (SourceKind::LocalUser, ActionKind::DeleteQueue),
            (SourceKind::Script, ActionKind::QuarantineScript),
        ] {
            let mut reported = reported(None);
            reported.sources.push(ReportedSource { kind: Some(kind), id: bad.into(), ..ReportedSource::default() });
            let reason = refused(&host, &request(&next(), action, kind, bad), &reported);
            assert!(reason.starts_with("source_id: "), "{kind:?} {bad:?}: {reason}");
        }
        // The subscription of a pause.
        let mut sub = request(&next(), ActionKind::PauseSubscription, SourceKind::LocalUser, "10001");
        sub.subscription = bad.into();
        assert!(refused(&host, &sub, &reported(None)).starts_with("subscription: "), "{bad:?}");
        // The script path of a quarantine.
        let mut q = request(&next(), ActionKind::QuarantineScript, SourceKind::Script, "10001:mailer.php");
        q.subscription = "example.com".into();
        q.script = format!("{}/{bad}", host.config.vhosts.join("example.com/httpdocs").display());
        assert!(refused(&host, &q, &reported(None)).starts_with("script: "), "{bad:?}");
        // Queue ids the log tied to a source.
        let mut reported = reported(None);
        reported.sources[2].queue_ids = vec![bad.into()];
        let reason =
            refused(&host, &request(&next(), ActionKind::HoldQueue, SourceKind::LocalUser, "10001"), &reported);
        assert!(reason.starts_with("queue_id: "), "{bad:?}: {reason}");
        // The action id itself (never becomes a file name).
        let result = host
            .executor()
            .run(&request(bad, ActionKind::HoldQueue, SourceKind::Sender, "spam@example.com"), &reported)
            .unwrap();
        assert_eq!(result.status, Status::Refused);
        assert!(result.reason.starts_with("id: "), "{bad:?}: {}", result.reason);
    }
    assert_eq!(
        std::fs::read_dir(host.dir.path().join("actions")).unwrap().count(),
        n,
        "one ledger file per refused id"
    );
}

#[test]
fn a_script_path_that_leaves_the_subscription_through_a_symlink_is_refused() {
    let host = Host::new();
    let outside = host.dir.path().join("outside");
    std::fs::create_dir(&outside).unwrap();
    std::fs::write(outside.join("mailer.php"), "x").unwrap();
    let docroot = host.config.vhosts.join("example.com/httpdocs");
    std::os::unix::fs::symlink(&outside, docroot.join("link")).unwrap();
    std::os::unix::fs::symlink(outside.join("mailer.php"), docroot.join("mailer.php")).unwrap();
    let other = host.config.vhosts.join("other.example/httpdocs");
    std::fs::create_dir_all(&other).unwrap();
    std::fs::write(other.join("mailer.php"), "x").unwrap();
    let cases = [
        (docroot.join("link/mailer.php"), "symlink"),
        (docroot.join("mailer.php"), "symlink"),
        (other.join("mailer.php"), "is not below the subscription's tree"),
        (PathBuf::from(format!("{}/../../outside/mailer.php", docroot.display())), "'..'"),
        (docroot.join("absent/mailer.php"), "cannot be resolved"),
    ];
    for (i, (path, words)) in cases.iter().enumerate() {
        let mut q = request(&format!("y{i}"), ActionKind::QuarantineScript, SourceKind::Script, "10001:mailer.php");
        q.subscription = "example.com".into();
        q.script = path.display().to_string();
        let reason = refused(&host, &q, &reported(None));
        assert!(reason.starts_with("script: ") && reason.contains(words), "{path:?}: {reason}");
    }
    assert!(outside.join("mailer.php").exists());
    // The right name is required too: another file of the subscription is refused.
    let path = host.script("httpdocs/index.php", "<?php");
    let mut q = request("y9", ActionKind::QuarantineScript, SourceKind::Script, "10001:mailer.php");
    q.subscription = "example.com".into();
    q.script = path.display().to_string();
    assert!(refused(&host, &q, &reported(None)).contains("is not the reported script"));
}

#[test]
fn a_restore_needs_undo_data_this_agent_recorded() {
    let host = Host::new();
    // A made-up "previous" value that would lift a limit: not in the ledger.
    let forged = UndoData::Limit {
        target: LimitTarget::Mailbox("info@example.com".into()),
        previous: "unlimited".into(),
        known: true,
    };
    let mut restore = request("u1", ActionKind::RestoreMailbox, SourceKind::SaslUser, "info@example.com");
    restore.undo = forged.to_wire();
    assert!(refused(&host, &restore, &reported(None)).contains("no action on this host recorded this undo data"));
    let mut garbage = request("u2", ActionKind::RestoreScript, SourceKind::Script, "10001:mailer.php");
    garbage.undo = "{\"undo\":\"script\",\"original\":\"/etc/passwd\"}".into();
    assert!(refused(&host, &garbage, &reported(None)).starts_with("undo: "));
}

#[test]
fn a_restore_refuses_a_directory_turned_symlink_or_a_file_back_in_place() {
    let host = Host::new();
    let path = host.script("httpdocs/wp/mailer.php", "<?php");
    let uid = std::os::unix::fs::MetadataExt::uid(&std::fs::metadata(&path).unwrap());
    let executor = host.executor();
    let mut q = request("z1", ActionKind::QuarantineScript, SourceKind::Script, "10001:mailer.php");
    q.subscription = "example.com".into();
    q.script = path.display().to_string();
    let quarantined = executor.run(&q, &reported(Some(uid))).unwrap();
    assert_eq!(quarantined.status, Status::Done, "{quarantined:?}");

    // The customer puts a new file where the old one was: never overwritten.
    std::fs::write(&path, "new").unwrap();
    let again = executor.undo("z2", &quarantined, &reported(None)).unwrap();
    assert_eq!(again.status, Status::Refused);
    assert!(again.reason.contains("exists again"), "{}", again.reason);
    std::fs::remove_file(&path).unwrap();

    // The directory became a symlink to somewhere else: refused before mv runs.
    let wp = path.parent().unwrap();
    std::fs::remove_dir(wp).unwrap();
    let elsewhere = host.dir.path().join("elsewhere");
    std::fs::create_dir(&elsewhere).unwrap();
    std::os::unix::fs::symlink(&elsewhere, wp).unwrap();
    let swapped = executor.undo("z3", &quarantined, &reported(None)).unwrap();
    assert_eq!(swapped.status, Status::Refused);
    assert!(swapped.reason.contains("symlink"), "{}", swapped.reason);
    assert!(host.config.quarantine_dir.join("z1").exists(), "still in quarantine");
    assert_eq!(std::fs::read_dir(&elsewhere).unwrap().count(), 0);
}
