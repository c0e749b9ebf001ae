//! Containment end to end (issue 16): from the CLI through the controller
//! to a real agent and back into the action's audit. Fake `postqueue` and
//! `postsuper` executables (written by the test) stand in for Postfix and
//! record what they were asked to do; the controller signs with a key made
//! by `rblfleet ca action-key`; a second agent without `[actions]` refuses.

mod common;
mod crash;
mod delete;
mod plesk;
mod quarantine;

use std::fmt::Write as _;
use std::path::Path;

use rblfleet_agent::{Agent, Config as AgentConfig, RunOptions};
use rblfleet_tests::{Controller, Pki, controller_config};
use serde_json::Value;

const HOST: &str = "web50.example";
const OFF: &str = "web51.example";
const SENDER: &str = "info@shop.example";

/// An executable shell script at `path`.
fn script(path: &Path, body: &str) {
    std::fs::write(path, format!("#!/bin/sh\n{body}")).unwrap();
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755)).unwrap();
    }
}

/// `postqueue -j`: two messages from the spammer, one from someone else.
/// `postsuper`: appends its arguments and stdin to `calls` (and `-h` puts
/// the spammer's messages on hold in the listing).
fn fake_postfix(dir: &Path) -> (String, String) {
    let queue = dir.join("postqueue");
    let mut json = String::new();
    for (id, sender) in [("4AB12C3D4E", SENDER), ("5BC23D4E5F", SENDER), ("6CD34E5F60", "office@other.example")] {
        let _ = writeln!(
            json,
            r#"{{"queue_name": "active", "queue_id": "{id}", "arrival_time": 1700000000, "message_size": 900, "sender": "{sender}", "recipients": [{{"address": "x@example.net"}}]}}"#
        );
    }
    std::fs::write(dir.join("queue.json"), json).unwrap();
    script(&queue, &format!("cat {:?}\n", dir.join("queue.json")));
    let postsuper = dir.join("postsuper");
    let calls = dir.join("calls");
    // A hold moves the spammer's messages to the hold queue, as Postfix would.
    let held = format!("/{SENDER}/s/\"active\"/\"hold\"/");
    script(
        &postsuper,
        &format!(
            "echo \"args: $*\" >> {calls:?}\ncat >> {calls:?}\nif [ \"$1\" = -h ]; then sed -i {held:?} {json:?}; fi\n",
            json = dir.join("queue.json")
        ),
    );
    (queue.display().to_string(), postsuper.display().to_string())
}

fn message_log(log: &Path) {
    let mut out = String::new();
    for i in 0..5 {
        let qid = format!("A{i:04X}");
        let _ = writeln!(
            out,
            "Dec  4 10:00:00 web postfix/qmgr[2]: {qid}: from=<{SENDER}>, size=900, nrcpt=1 (queue active)"
        );
        let _ = writeln!(
            out,
            "Dec  4 10:00:01 web postfix/smtp[3]: {qid}: to=<u{i}@example.net>, relay=mx.example.net[192.0.2.25]:25, delay=1, delays=0/0/0/1, dsn=2.0.0, status=sent (250 OK)"
        );
    }
    std::fs::write(log, out).unwrap();
}

async fn agent(pki: &Pki, host: &str, url: &str, dir: &Path, actions: &str) -> Agent {
    let (cert, key) = pki.agent(host);
    let log = dir.join(format!("{host}.log"));
    message_log(&log);
    let toml = format!(
        "host_id = {host:?}\n\
         [controller]\nurl = {url:?}\nca = {ca:?}\ncert = {cert:?}\nkey = {key:?}\ntimeout = \"5s\"\n\
         [report]\ninterval = \"1s\"\n\
         [outbox]\ndir = {outbox:?}\n\
         [logs]\npaths = [{log:?}]\njournald = \"never\"\nread_existing = true\n\
         [queue]\nmta = \"postfix\"\npostqueue = {postqueue:?}\n\
         {actions}",
        ca = pki.ca_cert().display().to_string(),
        cert = cert.display().to_string(),
        key = key.display().to_string(),
        outbox = dir.join(host).display().to_string(),
        log = log.display().to_string(),
        postqueue = dir.join("postqueue").display().to_string(),
    );
    Agent::open(AgentConfig::from_toml_str(&toml).unwrap(), RunOptions::default()).await.unwrap()
}

/// Two report rounds: the first ack carries pending actions, the second
/// report carries their results.
async fn rounds(agent: &mut Agent) {
    for _ in 0..2 {
        agent.tick().unwrap();
        let outcome = agent.flush().await;
        assert_eq!(outcome.rejected, 0, "{outcome:?}");
    }
}

async fn json(controller: &Controller, args: &[&str]) -> Value {
    let out = controller.cli(args).await.unwrap();
    serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {out}"))
}

#[tokio::test]
async fn plan_apply_and_undo_run_on_the_agent_and_come_back_audited() {
    let tmp = tempfile::tempdir().unwrap();
    let pki = Pki::new(&tmp.path().join("ca"));
    let (postqueue, postsuper) = fake_postfix(tmp.path());
    let keygen = rblfleet_controller::ca::action_key(&tmp.path().join("ca")).unwrap();
    let public: String = keygen.1.iter().map(|b| format!("{b:02x}")).collect();
    let mut config = controller_config(&pki, &tmp.path().join("data"), 0, false);
    config.actions.key = Some(keygen.0);
    let controller = Controller::start_with(config).await;
    let url = controller.agent_url();
    let actions = format!(
        "[actions]\nenabled = true\ncontroller_key = {public:?}\nallow = [\"hold_queue\", \"release_queue\"]\n\
         postsuper = {postsuper:?}\npostqueue = {postqueue:?}\n"
    );
    let mut on = agent(&pki, HOST, &url, tmp.path(), &actions).await;
    let mut off = agent(&pki, OFF, &url, tmp.path(), "").await;
    rounds(&mut on).await;
    rounds(&mut off).await;

    // A source the agent never reported is refused by the controller.
    let err = controller.cli(&["contain", "plan", HOST, "sender:boss@shop.example", "hold_queue"]).await.unwrap_err();
    assert!(format!("{err:#}").contains("never reported"), "{err:#}");

    // Plan: the agent's dry run names the matched queue ids and the command.
    let source = format!("sender:{SENDER}");
    let plan =
        json(&controller, &["contain", "plan", HOST, &source, "hold_queue", "--wait", "0s", "--format", "json"]).await;
    assert_eq!(plan["state"], "planned", "{plan}");
    let plan_id = plan["id"].as_str().unwrap().to_string();
    rounds(&mut on).await;
    let ready = json(&controller, &["contain", "show", &plan_id, "--format", "json"]).await;
    assert_eq!(ready["state"], "plan_ready", "{ready}");
    assert!(ready["result"]["commands"][0].as_str().unwrap().contains("-h"), "{ready}");
    assert!(ready["result"]["output"].as_str().unwrap().contains("4AB12C3D4E"), "{ready}");
    assert!(!tmp.path().join("calls").exists(), "a dry run changes nothing");

    // Apply: the agent holds exactly the spammer's two messages.
    let applied = json(
        &controller,
        &["contain", "apply", &plan_id, "--reason", "hijacked mailbox", "--wait", "0s", "--format", "json"],
    )
    .await;
    assert_eq!(applied["state"], "approved", "{applied}");
    let action_id = applied["id"].as_str().unwrap().to_string();
    rounds(&mut on).await;
    let done = json(&controller, &["contain", "show", &action_id, "--format", "json"]).await;
    assert_eq!(done["state"], "done", "{done}");
    let calls = std::fs::read_to_string(tmp.path().join("calls")).unwrap();
    assert!(calls.starts_with("args: -h -\n"), "{calls}");
    assert!(calls.contains("4AB12C3D4E") && calls.contains("5BC23D4E5F") && !calls.contains("6CD34E5F60"), "{calls}");

    // More reports do not run it again.
    rounds(&mut on).await;
    assert_eq!(std::fs::read_to_string(tmp.path().join("calls")).unwrap(), calls);

    // Undo releases them.
    let undo = json(&controller, &["contain", "undo", &action_id, "--wait", "0s", "--format", "json"]).await;
    let undo_id = undo["id"].as_str().unwrap().to_string();
    assert_eq!(undo["kind"], "release_queue", "{undo}");
    rounds(&mut on).await;
    let released = json(&controller, &["contain", "show", &undo_id, "--format", "json"]).await;
    assert_eq!(released["state"], "done", "{released}");
    let calls = std::fs::read_to_string(tmp.path().join("calls")).unwrap();
    assert!(calls.contains("args: -H -"), "{calls}");
    let audit = released["audit"].as_array().unwrap();
    assert!(audit.len() >= 2, "{released}");

    // The host without [actions] answers "refused" and runs nothing.
    let plan =
        json(&controller, &["contain", "plan", OFF, &source, "hold_queue", "--wait", "0s", "--format", "json"]).await;
    rounds(&mut off).await;
    let refused = json(&controller, &["contain", "show", plan["id"].as_str().unwrap(), "--format", "json"]).await;
    assert_eq!(refused["state"], "refused", "{refused}");
    assert!(refused["result"]["reason"].as_str().unwrap().contains("disabled"), "{refused}");

    let list = controller.cli(&["contain", "list"]).await.unwrap();
    assert!(list.contains(&action_id) && list.contains("refused"), "{list}");
    controller.stop().await;
}
