#![allow(clippy::unwrap_used)]

use super::*;
use crate::ca::renew::controller_names;
use crate::cli::ca::tests::{ca, identity_of, new_ca};
use crate::identity::Role;

fn read(path: &Path) -> Vec<u8> {
    std::fs::read(path).unwrap()
}

fn days_of(cert: &Path) -> i64 {
    days_left(read_pem_file(cert).unwrap()[0].not_after_ms, crate::clock::now_ms())
}

/// web01 expires in 10 days, web02 in 825, the controller in 20: a dry run
/// names web01 only (and the controller with --controller) and writes
/// nothing; the real run renews exactly those, with new keys, same names,
/// and bundles that match.
#[test]
fn renew_reissues_what_expires_within_the_window_and_its_bundle() {
    let (_tmp, dir) = new_ca();
    let d = dir.to_str().unwrap();
    ca(&["issue", "--dir", d, "--agent", "web01.example", "--days", "10"]).unwrap();
    ca(&["issue", "--dir", d, "--agent", "web02.example"]).unwrap();
    ca(&["issue", "--dir", d, "--controller", "c.example,192.0.2.1", "--days", "20"]).unwrap();
    let agents = dir.join("agents");
    let before: Vec<Vec<u8>> =
        ["web01.example.crt", "web01.example.key", "web02.example.crt"].iter().map(|f| read(&agents.join(f))).collect();
    let controller_before = read(&dir.join("controller.crt"));

    let out = ca(&["renew", "--dir", d, "--within", "30d", "--dry-run", "--format", "json"]).unwrap();
    let json: Value = serde_json::from_str(&out).unwrap();
    let actions: Vec<(&str, &str, i64)> = json["certificates"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| (c["name"].as_str().unwrap(), c["action"].as_str().unwrap(), c["days_left"].as_i64().unwrap()))
        .collect();
    assert_eq!(actions, [("web01.example", "would_renew", 10), ("web02.example", "not_due", 825)]);
    assert_eq!(json["dry_run"], true);
    assert_eq!(json["within_secs"], 30 * 86_400);
    assert_eq!(read(&agents.join("web01.example.crt")), before[0], "a dry run wrote");

    let out = ca(&["renew", "--dir", d, "--within", "30d", "--controller"]).unwrap();
    assert!(out.contains("2 renewed, 1 not due (window 30 days)"), "{out}");
    assert!(out.contains("install each new controller .crt and .key"), "{out}");
    // web01: new certificate and key, same identity, 825 days, bundle rewritten.
    assert_ne!(read(&agents.join("web01.example.crt")), before[0]);
    assert_ne!(read(&agents.join("web01.example.key")), before[1], "a renewal makes a new key");
    assert_eq!(days_of(&agents.join("web01.example.crt")), 825);
    let bundle = dir.join(BUNDLES).join("web01.example");
    assert_eq!(identity_of(&bundle.join("agent.crt")), (Role::Agent, "web01.example".to_string()));
    assert_eq!(read(&bundle.join("agent.crt")), read(&agents.join("web01.example.crt")));
    assert_eq!(read(&bundle.join("agent.key")), read(&agents.join("web01.example.key")));
    assert_eq!(read(&bundle.join("ca.crt")), read(&dir.join("ca.crt")));
    // web02 was not due: untouched.
    assert_eq!(read(&agents.join("web02.example.crt")), before[2]);
    // The controller keeps its names.
    assert_ne!(read(&dir.join("controller.crt")), controller_before);
    assert_eq!(controller_names(&dir.join("controller.crt")).unwrap(), ["c.example", "192.0.2.1"]);
    assert_eq!(days_of(&dir.join("controller.crt")), 825);

    // Nothing left to do.
    let out = ca(&["renew", "--dir", d, "--within", "30d", "--controller"]).unwrap();
    assert!(out.contains("0 renewed, 3 not due"), "{out}");
}

/// --host limits the run to those hosts, and a host without a
/// certificate stops the run before anything is renewed.
#[test]
fn hosts_are_chosen_by_name_and_unknown_ones_stop_the_run() {
    let (_tmp, dir) = new_ca();
    let d = dir.to_str().unwrap();
    ca(&["issue", "--dir", d, "--agent", "web01.example", "web02.example", "--days", "5"]).unwrap();
    let web02 = read(&dir.join("agents/web02.example.crt"));

    let err = ca(&["renew", "--dir", d, "--host", "web01.example", "web03.example"]).unwrap_err();
    assert!(err.contains("no certificate for \"web03.example\"") && err.contains("ca issue --agent"), "{err}");
    assert_eq!(days_of(&dir.join("agents/web01.example.crt")), 5, "renewed despite the refusal");

    let out = ca(&["renew", "--dir", d, "--host", "web01.example", "--days", "90"]).unwrap();
    assert!(out.contains("1 renewed, 0 not due"), "{out}");
    assert_eq!(days_of(&dir.join("agents/web01.example.crt")), 90);
    assert_eq!(read(&dir.join("agents/web02.example.crt")), web02, "not asked for");

    let err = ca(&["renew", "--dir", d, "--controller"]).unwrap_err();
    assert!(err.contains("no controller certificate"), "{err}");
}

/// Renewing past the CA's own end is done, and said: the CA bounds them.
#[test]
fn certificates_that_outlive_the_ca_are_warned_about() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("ca");
    let d = dir.to_str().unwrap();
    ca(&["init", "--dir", d, "--days", "60"]).unwrap();
    ca(&["issue", "--dir", d, "--agent", "web01.example", "--days", "10"]).unwrap();
    let out = ca(&["renew", "--dir", d]).unwrap();
    assert!(out.contains("warning: the CA expires") && out.contains("roll a new CA"), "{out}");
    let out = ca(&["renew", "--dir", d, "--format", "json", "--dry-run"]).unwrap();
    let json: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(json["ca"]["days_left"], 60);
    assert!(json["ca"]["warning"].as_str().unwrap().contains("roll a new CA"), "{out}");

    let empty = tmp.path().join("none");
    let err = ca(&["renew", "--dir", empty.to_str().unwrap()]).unwrap_err();
    assert!(err.contains("rblfleet ca init"), "{err}");
}

/// Several controllers, each with its own pair: issuing the second keeps
/// the first, and `renew --controller` renews both over their own files,
/// each with its own names (and the shared `controller.crt` beside them).
#[test]
fn several_controllers_keep_their_own_pairs_and_renew_together() {
    let (_tmp, dir) = new_ca();
    let d = dir.to_str().unwrap();
    let out =
        ca(&["issue", "--dir", d, "--controller", "ctl-a.example", "--controller-id", "ctl-a", "--days", "5"]).unwrap();
    assert!(out.contains("controllers/ctl-a.crt"), "{out}");
    ca(&["issue", "--dir", d, "--controller", "ctl-b.example,192.0.2.2", "--controller-id", "ctl-b", "--days", "5"])
        .unwrap();
    ca(&["issue", "--dir", d, "--controller", "ctl.example", "--days", "500"]).unwrap();
    let pair = |id: &str| dir.join("controllers").join(id);
    let a_before = read(&pair("ctl-a.crt"));
    assert_eq!(controller_names(&pair("ctl-a.crt")).unwrap(), ["ctl-a.example"]);
    assert_eq!(controller_names(&pair("ctl-b.crt")).unwrap(), ["ctl-b.example", "192.0.2.2"]);
    // The same id again is refused without --force, and a bad id always.
    let again = ca(&["issue", "--dir", d, "--controller", "x.example", "--controller-id", "ctl-a"]).unwrap_err();
    assert!(again.contains("ctl-a"), "{again}");
    let bad = ca(&["issue", "--dir", d, "--controller", "x.example", "--controller-id", "../x"]).unwrap_err();
    assert!(bad.contains("../x"), "{bad}");
    let alone = ca(&["issue", "--dir", d, "--controller-id", "ctl-c", "--agent", "web01"]).unwrap_err();
    assert!(alone.contains("--controller-id"), "{alone}");
    assert!(!dir.join("agents").join("web01.crt").exists(), "nothing issued");

    let out = ca(&["renew", "--dir", d, "--within", "30d", "--controller"]).unwrap();
    assert!(out.contains("2 renewed, 1 not due (window 30 days)"), "{out}");
    assert_ne!(read(&pair("ctl-a.crt")), a_before);
    assert_eq!(controller_names(&pair("ctl-a.crt")).unwrap(), ["ctl-a.example"]);
    assert_eq!(controller_names(&pair("ctl-b.crt")).unwrap(), ["ctl-b.example", "192.0.2.2"]);
    assert_eq!((days_of(&pair("ctl-a.crt")), days_of(&pair("ctl-b.crt"))), (825, 825));
    assert_eq!(days_of(&dir.join("controller.crt")), 500, "not due: untouched");
    assert!(!dir.join("ctl-a.crt").exists() && pair("ctl-a.key").exists(), "written in its own directory only");
}
