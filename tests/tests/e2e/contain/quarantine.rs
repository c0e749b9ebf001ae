//! Quarantining a PHP mailer end to end: the agent's log names it
//! (`X-PHP-Originating-Script: UID:mailer.php`, the uid's home a Plesk
//! subscription), the NOC plans with the file's full path under that
//! subscription's document root (in the temp dir), apply moves it with the
//! real `mv` into the quarantine directory keeping mode and owner and records
//! where, undo puts it back byte-identical. A path that leaves the
//! subscription's tree (`../`, a symlink, another subscription) is refused
//! with the reason, and nothing moves.
//!
//! Unix only: owners, modes and symlinks are what it checks.
#![cfg(unix)]

use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

use serde_json::Value;

use super::common::{ADMIN, Noc, agent, refused_mail_log};

const HOST: &str = "web61.example";
const IP: &str = "203.0.113.61";
const SUBSCRIPTION: &str = "shop.example";
/// A uid that is not ours, for the script's owner when the test runs as root.
const CUSTOMER_UID: u32 = 10001;
/// Bytes a copy would have to carry exactly: PHP, a NUL, invalid UTF-8.
const MAILER: &[u8] = b"<?php\n$h = base64_decode('Zm9v');\nmail($to, $s, $b, $h);\n\0\xff\xfe?>\n";

/// Writes `path` (and its directories) with MAILER, mode 0640, owned by
/// `owner` when the test can chown (root).
fn customer_file(path: &Path, owner: u32) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, MAILER).unwrap();
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o640)).unwrap();
    if std::fs::metadata(path).unwrap().uid() != owner {
        std::os::unix::fs::chown(path, Some(owner), Some(owner)).unwrap();
    }
}

/// (owner, group, mode) of `path`, not following a symlink.
fn stat(path: &Path) -> (u32, u32, u32) {
    let meta = std::fs::symlink_metadata(path).unwrap();
    (meta.uid(), meta.gid(), meta.mode() & 0o7777)
}

fn reason(record: &Value) -> String {
    record["result"]["reason"].as_str().unwrap_or_default().to_string()
}

#[tokio::test]
async fn a_reported_php_mailer_is_quarantined_keeping_owner_and_mode_and_put_back_byte_identical() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let noc = Noc::start(dir).await;
    // As root the script belongs to a customer uid, as on a Plesk host;
    // otherwise to us (we cannot chown), which the check compares just the same.
    let probe = dir.join("probe");
    std::fs::write(&probe, "").unwrap();
    let owner = match std::fs::metadata(&probe).unwrap().uid() {
        0 => CUSTOMER_UID,
        uid => uid,
    };
    let vhosts = dir.join("vhosts");
    let quarantine = dir.join("quarantine");
    std::fs::create_dir_all(&quarantine).unwrap();
    std::fs::set_permissions(&quarantine, std::fs::Permissions::from_mode(0o710)).unwrap();
    let docroot = vhosts.join(SUBSCRIPTION).join("httpdocs");
    let mailer = docroot.join("wp-content/uploads/2026/mailer.php");
    customer_file(&mailer, owner);
    let before = stat(&mailer);
    assert_eq!(before, (owner, before.1, 0o640));
    // A passwd file maps the uid to the subscription (Plesk's home layout).
    let passwd = dir.join("passwd");
    std::fs::write(&passwd, format!("shop:x:{owner}:{owner}::/var/www/vhosts/{SUBSCRIPTION}:/bin/false\n")).unwrap();
    let log = dir.join("mail.log");
    refused_mail_log(&log, IP, "shop@web61.example", |qid| {
        format!(
            "Dec  4 10:00:00 web postfix/pickup[4]: {qid}: uid={owner} from=<shop>\n\
             Dec  4 10:00:00 web postfix/cleanup[5]: {qid}: warning: header X-PHP-Originating-Script: \
             {owner}:mailer.php from local; from=<shop@web61.example> to=<victim@hotmail.com>\n"
        )
    });
    let actions = format!(
        "[sources]\npasswd = {passwd:?}\n\
         [actions]\nenabled = true\ncontroller_key = {key:?}\nallow = [\"quarantine_script\", \"restore_script\"]\n\
         vhosts = {vhosts:?}\nquarantine_dir = {quarantine:?}\n",
        passwd = passwd.display().to_string(),
        key = noc.public,
        vhosts = vhosts.display().to_string(),
        quarantine = quarantine.display().to_string(),
    );
    let mut web = agent(&noc, HOST, IP, dir, &log, &actions).await;
    let case = noc.case_id(IP).await;
    let plan = |script: &Path| {
        let script = format!("--script={}", script.display());
        [HOST.to_string(), "script:mailer.php".into(), "quarantine_script".into(), script]
    };
    let nothing_moved = || {
        assert_eq!(std::fs::read(&mailer).unwrap(), MAILER);
        assert_eq!(std::fs::read_dir(&quarantine).unwrap().count(), 0, "nothing in quarantine");
    };

    // Refused by the controller: no path, or a path to another file.
    let err = noc.cli(&["contain", "plan", HOST, "script:mailer.php", "quarantine_script"]).await.unwrap_err();
    assert!(format!("{err:#}").contains("--script PATH"), "{err:#}");
    let args = plan(&docroot.join("index.php"));
    let mut argv = vec!["contain", "plan"];
    argv.extend(args.iter().map(String::as_str));
    let err = noc.cli(&argv).await.unwrap_err();
    assert!(format!("{err:#}").contains("never reported script"), "{err:#}");

    // Refused by the agent, which knows the trees: out through `..`,
    // through a symlinked directory, in another subscription.
    let outside = dir.join("outside");
    customer_file(&outside.join("mailer.php"), owner);
    std::os::unix::fs::symlink(&outside, docroot.join("assets")).unwrap();
    let neighbour = vhosts.join("other.example/httpdocs/mailer.php");
    customer_file(&neighbour, owner);
    let dotdot = PathBuf::from(format!("{}/../../other.example/httpdocs/mailer.php", docroot.display()));
    for (script, why) in [
        (dotdot, "contains '.' or '..'"),
        (docroot.join("assets/mailer.php"), "leads out of the subscription's tree through a symlink"),
        (neighbour.clone(), "is not below the subscription's tree"),
    ] {
        let args = plan(&script);
        let mut argv = vec!["plan"];
        argv.extend(args.iter().map(String::as_str));
        let refused = noc.step(&mut web, &argv).await;
        assert_eq!(refused["state"], "refused", "{refused}");
        assert!(reason(&refused).contains(why), "{script:?}: {refused}");
        let id = refused["id"].as_str().unwrap().to_string();
        let err = noc.cli(&["contain", "apply", &id, "--reason", "x"]).await.unwrap_err();
        assert!(format!("{err:#}").contains("needs plan_ready"), "{err:#}");
    }
    // Injection attempts in the path: the controller passes them on (the
    // name matches), the agent refuses each naming what is wrong.
    let long = format!("{}/{}/mailer.php", docroot.display(), "a/".repeat(600));
    for (script, why) in [
        (format!("{}/$(reboot)/mailer.php", docroot.display()), "contains '$'"),
        (format!("{}/a b/mailer.php", docroot.display()), "white space"),
        (format!("{}/x;id/mailer.php", docroot.display()), "contains ';'"),
        (format!("{}/'q'/mailer.php", docroot.display()), "contains '\\''"),
        (format!("{}/x\ny/mailer.php", docroot.display()), "control character"),
        (format!("{}/-rf/mailer.php", docroot.display()), "starts with '-'"),
        (long, "longer than 1024"),
    ] {
        let script = format!("--script={script}");
        let refused = noc.step(&mut web, &["plan", HOST, "script:mailer.php", "quarantine_script", &script]).await;
        assert_eq!(refused["state"], "refused", "{refused}");
        assert!(reason(&refused).contains(why), "{script:?}: {refused}");
    }
    nothing_moved();
    assert_eq!(std::fs::read(outside.join("mailer.php")).unwrap(), MAILER);
    assert_eq!(std::fs::read(&neighbour).unwrap(), MAILER);

    // The plan: the command line and what undo will do; nothing moves yet.
    let args = plan(&mailer);
    let mut argv = vec!["plan"];
    argv.extend(args.iter().map(String::as_str));
    let ready = noc.step(&mut web, &argv).await;
    assert_eq!(ready["state"], "plan_ready", "{ready}");
    assert_eq!(ready["subscription"], SUBSCRIPTION, "the script's own subscription: {ready}");
    let mv = format!("/bin/mv -n -T -- {} {}/", mailer.display(), quarantine.display());
    let planned_mv = ready["result"]["commands"][0].as_str().unwrap().to_string();
    assert!(planned_mv.starts_with(&mv), "{ready}");
    let undo_text = format!("back to {} (owner {owner}:{}, mode 640)", mailer.display(), before.1);
    assert!(ready["result"]["undo"].as_str().unwrap().contains(&undo_text), "{ready}");
    nothing_moved();

    // Apply: moved aside, owner and mode kept, where it went recorded.
    let plan_id = ready["id"].as_str().unwrap().to_string();
    let done = noc.step(&mut web, &["apply", &plan_id, "--reason", "php mailer sending spam"]).await;
    assert_eq!(done["state"], "done", "{done}");
    let id = done["id"].as_str().unwrap().to_string();
    // The plan showed exactly the command that ran (the same destination).
    assert_eq!(done["result"]["commands"][0], planned_mv, "{done}");
    let moved = quarantine.join(id.strip_prefix("a-").unwrap());
    assert_eq!(planned_mv, format!("{mv}{}", moved.file_name().unwrap().to_str().unwrap()));
    assert!(!mailer.exists(), "the script left the web tree");
    assert_eq!(std::fs::read(&moved).unwrap(), MAILER);
    assert_eq!(stat(&moved), before);
    let undo: Value = serde_json::from_str(done["result"]["undo"].as_str().unwrap()).unwrap();
    assert_eq!(undo["original"], mailer.display().to_string(), "{undo}");
    assert_eq!(undo["quarantined"], moved.display().to_string(), "{undo}");
    assert_eq!((&undo["uid"], &undo["mode"]), (&owner.into(), &0o640.into()), "{undo}");

    // Undo: back where it was, the same bytes, owner and mode.
    let restored = noc.step(&mut web, &["undo", &id]).await;
    assert_eq!((&restored["state"], &restored["kind"]), (&"done".into(), &"restore_script".into()), "{restored}");
    assert_eq!(std::fs::read(&mailer).unwrap(), MAILER);
    assert_eq!(stat(&mailer), before);
    assert!(!moved.exists());
    nothing_moved();

    // The case holds who approved, what ran and how it exited; the refusals too.
    let notes = noc.case_notes(case).await;
    let by = |who: &str, parts: &[&str]| notes.iter().any(|(w, n)| w == who && parts.iter().all(|p| n.contains(p)));
    assert!(by(ADMIN, &["approved quarantine_script", &id, "php mailer sending spam"]), "{notes:#?}");
    assert!(by(HOST, &[&id, "done; ran: /bin/mv -n -T -- ", &moved.display().to_string(), "exit code 0"]));
    assert!(by(HOST, &["restore_script", &format!("{} {}; exit code 0", moved.display(), mailer.display())]));
    assert!(by(HOST, &["refused", "through a symlink"]), "{notes:#?}");
    noc.controller.stop().await;
}
