//! The collector on a real directory tree: a vhosts directory, Postfix's
//! map, qmail's control files, a static list and a fake `plesk` script (a
//! real process, answering `db` and `bin site/domain --list`). The script is
//! named by its path in `domains.plesk`: putting it on PATH would change
//! PATH for every test of the process.

#![allow(clippy::unwrap_used)]

use std::path::Path;
use std::time::{Duration, SystemTime};

use rblfleet_proto::v1::HostReport;

use super::*;
use crate::collect::collect_one;
use crate::command::fake_tool::script;

mod parse;

/// A config whose every domain source lives in `dir`.
fn config(dir: &Path, extra: &str) -> Config {
    Config::from_toml_str(&format!(
        "[controller]\nurl = \"http://127.0.0.1:1\"\n[sources]\npasswd = \"{d}/passwd\"\n\
         [domains]\nplesk = \"{d}/plesk\"\npostfix_map = \"{d}/virtual_domains\"\n\
         qmail_virtualdomains = \"{d}/control/virtualdomains\"\nqmail_rcpthosts = \"{d}/control/rcpthosts\"\n\
         mailenable_domains = \"{d}/DOMAIN.TAB\"\nvhosts_dir = \"{d}/vhosts\"\n{extra}",
        d = dir.display()
    ))
    .unwrap()
}

/// A fake Plesk: `db` prints `db_rows` (or fails with `db_rows = None`),
/// `bin site --list` / `bin domain --list` print their names.
fn fake_plesk(dir: &Path, db_rows: Option<&str>) {
    let db = match db_rows {
        Some(rows) => format!("printf '{rows}'"),
        None => "echo 'ERROR 2002 (HY000): Can not connect to MySQL' >&2; exit 1".into(),
    };
    script(
        dir,
        "plesk",
        &format!(
            "case \"$1 $2\" in\n\
             'db -N') {db} ;;\n\
             'bin site') printf 'shop.example\\nsub.shop.example\\n' ;;\n\
             'bin domain') printf 'shop.example\\nother.example\\n' ;;\n\
             *) echo \"unexpected: $*\" >&2; exit 2 ;;\n\
             esac"
        ),
    );
}

fn tree(dir: &Path) {
    std::fs::write(dir.join("virtual_domains"), "shop.example VIRTUAL\nmailonly.example VIRTUAL\n").unwrap();
    std::fs::create_dir_all(dir.join("control")).unwrap();
    std::fs::write(dir.join("control/virtualdomains"), "qmail.example:qmail.example\n").unwrap();
    for d in ["vhosts/shop.example", "vhosts/system/shop.example", "vhosts/system/addon.example", "vhosts/default"] {
        std::fs::create_dir_all(dir.join(d)).unwrap();
    }
}

fn names(c: &Collected) -> Vec<String> {
    c.to_proto().domains.into_iter().map(|d| d.name).collect()
}

#[test]
fn every_source_is_read_merged_and_sent_in_wire_form() {
    let dir = tempfile::tempdir().unwrap();
    tree(dir.path());
    fake_plesk(dir.path(), Some("shop.example\\tshopuser\\t0\\nxn--bcher-kva.example\\tbooks\\t1\\n"));
    let config = config(dir.path(), "static = [\"Static.Example.\"]\n");
    let collected = Reader::new(&config).collect();

    let wire = collected.to_proto();
    assert_eq!(
        names(&collected),
        [
            "addon.example",
            "mailonly.example",
            "qmail.example",
            "shop.example",
            "static.example",
            "xn--bcher-kva.example"
        ]
    );
    assert_eq!(wire.sources, ["plesk", "postfix", "qmail", "vhosts", "static"], "mailenable is absent");
    assert!(!wire.truncated);
    let get = |name: &str| wire.domains.iter().find(|d| d.name == name).unwrap();
    // Plesk's owner, the Postfix map's mail.
    assert_eq!((get("shop.example").subscription.as_str(), get("shop.example").mail), ("shopuser", true));
    assert_eq!(get("xn--bcher-kva.example").unicode, "bücher.example");
    assert_eq!(get("shop.example").unicode, "", "empty when equal to the name");
    assert!(!get("addon.example").mail && !get("static.example").mail);
    assert!(collected.errors().is_empty(), "{:?}", collected.errors());
    let plesk = &collected.sources[0];
    assert_eq!((plesk.state.clone(), plesk.found), (SourceState::Read, 2));
}

#[test]
fn a_failing_plesk_database_falls_back_to_the_lists_and_says_so() {
    let dir = tempfile::tempdir().unwrap();
    fake_plesk(dir.path(), None);
    let collected = Reader::new(&config(dir.path(), "sources = [\"plesk\"]\n")).collect();
    assert_eq!(names(&collected), ["other.example", "shop.example", "sub.shop.example"]);
    assert_eq!(collected.sources[0].state, SourceState::Read);
    let errors = collected.errors().join("; ");
    assert!(errors.contains("Can not connect") && errors.contains("without owner or mail"), "{errors}");
}

#[test]
fn a_source_failing_after_a_good_read_keeps_its_names() {
    let dir = tempfile::tempdir().unwrap();
    fake_plesk(dir.path(), Some("shop.example\\tshopuser\\t1\\n"));
    let mut reader = Reader::new(&config(dir.path(), "sources = [\"plesk\"]\n"));
    let good = reader.collect();
    script(dir.path(), "plesk", "exit 3");
    let failed = reader.collect();
    assert_eq!(failed.digest(), good.digest(), "the set does not flap");
    assert!(matches!(failed.sources[0].state, SourceState::Failed { stale: true, .. }));
    assert!(failed.errors()[0].starts_with("plesk: "), "{:?}", failed.errors());
}

#[test]
fn a_host_without_sources_serves_none_and_max_cuts() {
    let dir = tempfile::tempdir().unwrap();
    let none = Reader::new(&config(dir.path(), "")).collect();
    let wire = none.to_proto();
    assert!(wire.domains.is_empty() && wire.sources.is_empty() && none.errors().is_empty());
    assert!(none.sources.iter().all(|s| s.state == SourceState::Absent));

    tree(dir.path());
    let cut = Reader::new(&config(dir.path(), "max = 2\n")).collect();
    assert_eq!(cut.list.len(), 2);
    assert!(cut.to_proto().truncated);
}

#[test]
fn an_unreadable_map_is_an_error_not_a_panic() {
    let dir = tempfile::tempdir().unwrap();
    // A directory where the file should be: reading it fails.
    std::fs::create_dir_all(dir.path().join("virtual_domains")).unwrap();
    let c =
        Reader::new(&config(dir.path(), "sources = [\"postfix\", \"static\"]\nstatic = [\"a.example\"]\n")).collect();
    assert!(matches!(c.sources[0].state, SourceState::Failed { stale: false, .. }));
    assert_eq!(names(&c), ["a.example"]);
    assert_eq!(c.to_proto().sources, ["static"]);
}

#[test]
fn reports_carry_the_set_first_when_changed_and_daily() {
    let dir = tempfile::tempdir().unwrap();
    tree(dir.path());
    let config = config(dir.path(), "refresh = \"1h\"\n");
    let mut collector = DomainsCollector::open(&config).unwrap();
    let mut report = HostReport::default();
    collect_one(&mut collector, &mut report);
    assert_eq!(report.domains.as_ref().unwrap().domains.len(), 4);
    assert!(report.status.unwrap().collectors.iter().any(|c| c.name == "domains" && c.ok));
    // Not stored (the outbox push failed): the next report carries it again.
    let mut report = HostReport::default();
    collect_one(&mut collector, &mut report);
    assert!(report.domains.is_some());
    collector.committed();
    let mut report = HostReport::default();
    collect_one(&mut collector, &mut report);
    assert!(report.domains.is_none(), "unchanged and stored: absent");
    collector.committed();

    std::fs::create_dir_all(dir.path().join("vhosts/new.example")).unwrap();
    collector.refresh_now();
    let mut report = HostReport::default();
    collect_one(&mut collector, &mut report);
    let names: Vec<String> = report.domains.unwrap().domains.into_iter().map(|d| d.name).collect();
    assert!(names.contains(&"new.example".to_string()), "{names:?}");
}

#[test]
fn a_refresh_runs_on_its_own_thread_when_due() {
    let dir = tempfile::tempdir().unwrap();
    let mut collector = DomainsCollector::open(&config(dir.path(), "refresh = \"10ms\"\n")).unwrap();
    std::fs::write(dir.path().join("virtual_domains"), "late.example x\n").unwrap();
    std::thread::sleep(Duration::from_millis(20));
    collector.collect(&mut HostReport::default()).unwrap(); // starts the refresh
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while collector.current().list.is_empty() && std::time::Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(5));
        collector.collect(&mut HostReport::default()).unwrap();
    }
    assert_eq!(names(collector.current()), ["late.example"]);
}

#[test]
fn disabled_means_no_collector() {
    let dir = tempfile::tempdir().unwrap();
    assert!(DomainsCollector::open(&config(dir.path(), "enabled = false\n")).is_none());
}

#[test]
fn the_set_is_resent_after_a_day() {
    let now = SystemTime::now();
    assert!(needs_sending(None, 1, now));
    assert!(!needs_sending(Some((1, now - Duration::from_secs(3600))), 1, now));
    assert!(needs_sending(Some((2, now - Duration::from_secs(3600))), 1, now));
    assert!(needs_sending(Some((1, now - RESEND_AFTER)), 1, now));
    assert!(!needs_sending(Some((1, now + Duration::from_secs(60))), 1, now), "a clock step back is no reason");
}

/// The snapshot root writes, read by the agent with the same parser: the
/// same rows as running `plesk db`, a header line, mode 0640, and a failing
/// `plesk db` replaces nothing.
#[test]
fn a_plesk_snapshot_is_written_by_the_query_and_read_back() {
    let dir = tempfile::tempdir().unwrap();
    fake_plesk(dir.path(), Some("shop.example\\tshopuser\\t1\\nmysql: [Warning] junk\\nb.example\\t\\t0\\n"));
    let snap = dir.path().join("plesk-domains.tsv");
    let by_command = Reader::new(&config(dir.path(), "sources = [\"plesk\"]\n")).collect();
    let now = SystemTime::now();
    assert_eq!(plesk::write_snapshot(&config(dir.path(), "").domains, &snap, now).unwrap(), 3);
    let text = std::fs::read_to_string(&snap).unwrap();
    assert!(text.starts_with("# Plesk domains") && text.contains(env!("CARGO_PKG_VERSION")), "{text}");
    {
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(std::fs::metadata(&snap).unwrap().permissions().mode() & 0o777, 0o640);
    }
    let extra = format!("sources = [\"plesk\"]\nplesk_snapshot = \"{}\"\n", snap.display());
    // The snapshot is read even with no plesk program at all.
    std::fs::remove_file(dir.path().join("plesk")).unwrap();
    let by_snapshot = Reader::new(&config(dir.path(), &extra)).collect();
    assert_eq!(by_snapshot.digest(), by_command.digest());
    assert_eq!(names(&by_snapshot), ["b.example", "shop.example"]);
    assert_eq!((by_snapshot.sources[0].state.clone(), by_snapshot.sources[0].skipped), (SourceState::Read, 1));

    fake_plesk(dir.path(), None);
    let e = plesk::write_snapshot(&config(dir.path(), "").domains, &snap, now).unwrap_err();
    assert!(e.contains("Can not connect") && e.contains("left as it was"), "{e}");
    assert_eq!(std::fs::read_to_string(&snap).unwrap(), text, "not replaced");
    std::fs::remove_file(dir.path().join("plesk")).unwrap();
    let e = plesk::write_snapshot(&config(dir.path(), "").domains, &snap, now).unwrap_err();
    assert!(e.contains("not found"), "{e}");
}

#[test]
fn a_stale_or_missing_snapshot_is_a_plesk_error_naming_the_file_and_the_timer() {
    let dir = tempfile::tempdir().unwrap();
    tree(dir.path());
    let snap = dir.path().join("plesk-domains.tsv");
    let extra = format!("sources = [\"plesk\", \"vhosts\"]\nplesk_snapshot = \"{}\"\n", snap.display());
    let missing = Reader::new(&config(dir.path(), &extra)).collect();
    let errors = missing.errors().join("; ");
    assert!(
        errors.contains("plesk-domains.tsv: missing") && errors.contains("rblfleet-plesk-domains.timer"),
        "{errors}"
    );
    assert_eq!(names(&missing), ["addon.example", "shop.example"], "the other sources still run");

    std::fs::write(&snap, "# header\nfresh.example\tu\t1\nnot a row\n\n").unwrap();
    let fresh = Reader::new(&config(dir.path(), &extra)).collect();
    assert!(fresh.errors().is_empty(), "{:?}", fresh.errors());
    assert_eq!((fresh.sources[0].found, fresh.sources[0].skipped), (1, 1));

    let file = std::fs::File::options().write(true).open(&snap).unwrap();
    file.set_modified(SystemTime::now() - Duration::from_secs(7200)).unwrap();
    let stale = Reader::new(&config(dir.path(), &extra)).collect();
    let errors = stale.errors().join("; ");
    assert!(errors.contains("written 2h") && errors.contains("plesk_snapshot_max_age = 1h"), "{errors}");
    assert!(matches!(stale.sources[0].state, SourceState::Failed { stale: false, .. }));
    let longer = Reader::new(&config(dir.path(), &format!("{extra}plesk_snapshot_max_age = \"3h\"\n"))).collect();
    assert!(longer.errors().is_empty(), "{:?}", longer.errors());

    // A directory where the file should be: unreadable, not a panic.
    std::fs::remove_file(&snap).unwrap();
    std::fs::create_dir(&snap).unwrap();
    let unreadable = Reader::new(&config(dir.path(), &extra)).collect();
    assert!(unreadable.errors()[0].contains("plesk-domains.tsv"), "{:?}", unreadable.errors());
}
