//! The controller goes away and comes back; the agent restarts in between.
//! Every report arrives exactly once.

use rblfleet_agent::{Agent, Config as AgentConfig, RunOptions};
use rblfleet_controller::store::{Store, StoreOptions};
use rblfleet_tests::{Controller, Pki, agent_toml};

const HOST: &str = "web03.example";

#[tokio::test]
async fn reports_survive_controller_outage_and_agent_restart() {
    let tmp = tempfile::tempdir().unwrap();
    let pki = Pki::new(&tmp.path().join("ca"));
    let data = tmp.path().join("data");
    let outbox = tmp.path().join("outbox");
    let controller = Controller::start(&pki, &data, 0, false).await;
    let port = controller.running.agent_addr.port();
    let toml = agent_toml(&pki, HOST, &controller.agent_url(), &outbox);
    let open =
        || async { Agent::open(AgentConfig::from_toml_str(&toml).unwrap(), RunOptions::default()).await.unwrap() };

    let mut agent = open().await;
    agent.tick().unwrap();
    assert_eq!(agent.flush().await.sent, 1);

    // Controller down: the agent keeps collecting into its outbox.
    controller.stop().await;
    for _ in 0..3 {
        agent.tick().unwrap();
        let outcome = agent.flush().await;
        assert_eq!(outcome.sent, 0);
        assert!(outcome.last_error.is_some(), "{outcome:?}");
    }
    assert_eq!(agent.backlog(), 3);

    // The agent restarts in the middle of the outage.
    drop(agent);
    let mut agent = open().await;
    assert_eq!(agent.backlog(), 3, "the outbox lost reports across a restart");
    agent.tick().unwrap();
    agent.tick().unwrap();
    assert_eq!(agent.backlog(), 5);

    // The controller returns on the same port and data directory.
    let controller = Controller::start(&pki, &data, port, false).await;
    let outcome = agent.flush().await;
    assert_eq!(outcome.sent, 5, "{outcome:?}");
    assert_eq!(agent.backlog(), 0);
    agent.tick().unwrap();
    assert_eq!(agent.flush().await.sent, 1);
    drop(agent);

    let host: serde_json::Value =
        serde_json::from_str(&controller.cli(&["host", HOST, "--format", "json"]).await.unwrap()).unwrap();
    assert_eq!(host["reports_stored"], 7);
    assert_eq!(host["seq_gaps"], 0);
    controller.stop().await;

    // Count what is on disk: sequences 1..=7, each once, in order.
    let store = Store::open(&data, &StoreOptions::default()).unwrap();
    let seqs: Vec<u64> = store.host_reports(HOST).unwrap().iter().map(|r| r.seq).collect();
    assert_eq!(seqs, (1..=7).collect::<Vec<_>>());
}
