//! Deleting a source's queued mail end to end (`postsuper -d -` with exactly
//! the source's queue ids on stdin), which has no undo; and two refusals
//! only the agent can make: a kind its `[actions] allow` does not list, and
//! an action signed by a key other than the one its admin configured.

use rblfleet_tests::{Controller, Pki, controller_config};

use super::{SENDER, agent, fake_postfix, json, rounds};

const HOST: &str = "web62.example";
const STRANGER: &str = "web63.example";

#[tokio::test]
async fn delete_removes_exactly_the_sources_queued_mail_and_cannot_be_undone() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let pki = Pki::new(&dir.join("ca"));
    let (postqueue, postsuper) = fake_postfix(dir);
    let (key, public) = rblfleet_controller::ca::action_key(&dir.join("ca")).unwrap();
    let public: String = public.iter().map(|b| format!("{b:02x}")).collect();
    let mut config = controller_config(&pki, &dir.join("data"), 0, false);
    config.actions.key = Some(key);
    let controller = Controller::start_with(config).await;
    let actions = format!(
        "[actions]\nenabled = true\ncontroller_key = {public:?}\nallow = [\"delete_queue\"]\n\
         postsuper = {postsuper:?}\npostqueue = {postqueue:?}\n"
    );
    let mut web = agent(&pki, HOST, &controller.agent_url(), dir, &actions).await;
    // A host whose admin trusts another controller's action key.
    let (_, foreign) = rblfleet_controller::ca::action_key(&dir.join("other-ca")).unwrap();
    let foreign: String = foreign.iter().map(|b| format!("{b:02x}")).collect();
    let elsewhere = actions.replace(&public, &foreign);
    let mut stranger = agent(&pki, STRANGER, &controller.agent_url(), dir, &elsewhere).await;
    rounds(&mut web).await;
    rounds(&mut stranger).await;
    let source = format!("sender:{SENDER}");
    let step = async |args: &[&str], web: &mut rblfleet_agent::Agent| {
        let mut all = vec!["contain"];
        all.extend(args);
        all.extend(["--wait", "0s", "--format", "json"]);
        let sent = json(&controller, &all).await;
        rounds(web).await;
        json(&controller, &["contain", "show", sent["id"].as_str().unwrap(), "--format", "json"]).await
    };

    // Not in the allow list: refused by the agent, nothing runs.
    let hold = step(&["plan", HOST, &source, "hold_queue"], &mut web).await;
    assert_eq!(hold["state"], "refused", "{hold}");
    assert!(
        hold["result"]["reason"].as_str().unwrap().contains("hold_queue is not in this host's [actions] allow list")
    );

    // Signed with a key this host does not trust: refused, nothing runs.
    let forged = step(&["plan", STRANGER, &source, "delete_queue"], &mut stranger).await;
    assert_eq!(forged["state"], "refused", "{forged}");
    assert!(forged["result"]["reason"].as_str().unwrap().contains("signature does not verify"), "{forged}");

    // The plan names the ids it matches and says it is irreversible.
    let ready = step(&["plan", HOST, &source, "delete_queue"], &mut web).await;
    assert_eq!(ready["state"], "plan_ready", "{ready}");
    let output = ready["result"]["output"].as_str().unwrap();
    assert!(output.contains("delete (irreversible) 2 queued message(s)"), "{ready}");
    assert!(output.contains("4AB12C3D4E") && output.contains("5BC23D4E5F") && !output.contains("6CD34E5F60"));
    assert_eq!(ready["result"]["undo"], serde_json::Value::Null, "{ready}");
    assert!(!dir.join("calls").exists(), "a dry run changes nothing");

    let done = step(&["apply", ready["id"].as_str().unwrap(), "--reason", "spam run"], &mut web).await;
    assert_eq!(done["state"], "done", "{done}");
    assert_eq!(done["result"]["commands"][0], format!("{postsuper} -d - < 2 id(s) on stdin"), "{done}");
    assert_eq!(std::fs::read_to_string(dir.join("calls")).unwrap(), "args: -d -\n4AB12C3D4E\n5BC23D4E5F\n");
    let audit = done["audit"].as_array().unwrap();
    assert!(
        audit
            .iter()
            .any(|l| l.as_str().unwrap().contains("done; ran: ") && l.as_str().unwrap().contains("exit code 0"))
    );

    // Deleted mail has no undo: the controller says so and sends nothing.
    let id = done["id"].as_str().unwrap().to_string();
    let err = controller.cli(&["contain", "undo", &id, "--wait", "0s"]).await.unwrap_err();
    assert!(format!("{err:#}").contains("delete_queue cannot be undone"), "{err:#}");
    rounds(&mut web).await;
    assert_eq!(std::fs::read_to_string(dir.join("calls")).unwrap(), "args: -d -\n4AB12C3D4E\n5BC23D4E5F\n");
    controller.stop().await;
}
