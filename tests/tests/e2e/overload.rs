//! Past capacity the controller sheds reports with RESOURCE_EXHAUSTED and a
//! retry hint instead of queueing without bound; agents keep what was shed
//! in their outbox and deliver it later, so nothing is lost.

use rblfleet_agent::{Agent, Config as AgentConfig, RunOptions};
use rblfleet_controller::store::Store;
use rblfleet_tests::{Controller, Pki, agent_toml, controller_config, raw_agent_client, valid_report};

const RETRY_HINT_MS: &str = "40";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn overload_is_shed_with_a_hint_and_agents_lose_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let pki = Pki::new(&tmp.path().join("ca"));
    let data = tmp.path().join("data");
    let mut config = controller_config(&pki, &data, 0, false);
    // A writer queue of one report: a handful of concurrent agents overload it.
    config.store.max_pending_reports = 1;
    config.limits.overload_retry_after = std::time::Duration::from_millis(40);
    let controller = Controller::start_with(config).await;

    // Raw clients firing at once see the refusal itself.
    let hosts: Vec<String> = (0..24).map(|i| format!("burst{i:02}.example")).collect();
    let mut clients = Vec::new();
    for host in &hosts {
        let (cert, key) = pki.agent(host);
        let identity = Some((cert.as_path(), key.as_path()));
        clients.push(raw_agent_client(&controller.agent_url(), &pki.ca_cert(), identity).await.unwrap());
    }
    let mut shed = None;
    for seq in 1..=50u64 {
        let sends: Vec<_> = clients
            .iter()
            .zip(&hosts)
            .map(|(client, host)| {
                let mut client = client.clone();
                let report = valid_report(host, 1, seq);
                tokio::spawn(async move { client.report(report).await })
            })
            .collect();
        for send in sends {
            if let Err(status) = send.await.unwrap() {
                assert_eq!(status.code(), tonic::Code::ResourceExhausted, "{status:?}");
                shed = Some(status);
            }
        }
        if shed.is_some() {
            break;
        }
    }
    let status = shed.expect("24 concurrent reporters never overflowed a queue of one report");
    assert!(status.message().contains("over capacity"), "{}", status.message());
    let hint = status.metadata().get("grpc-retry-pushback-ms").map(|v| v.to_str().unwrap().to_string());
    assert_eq!(hint.as_deref(), Some(RETRY_HINT_MS));

    // Real agents with outboxes: everything they recorded arrives, once.
    let mut agents = Vec::new();
    for i in 0..12 {
        let host = format!("agent{i:02}.example");
        let toml = agent_toml(&pki, &host, &controller.agent_url(), &tmp.path().join(format!("outbox{i}")));
        let mut agent = Agent::open(AgentConfig::from_toml_str(&toml).unwrap(), RunOptions::default()).await.unwrap();
        for _ in 0..8 {
            agent.tick().unwrap();
        }
        agents.push((host, agent));
    }
    let drains: Vec<_> = agents
        .into_iter()
        .map(|(_, mut agent)| {
            tokio::spawn(async move {
                let mut refusals = 0;
                for _ in 0..2_000 {
                    if agent.backlog() == 0 {
                        break;
                    }
                    let outcome = agent.flush().await;
                    assert_eq!(outcome.rejected, 0, "{outcome:?}");
                    if outcome.last_error.is_some() {
                        refusals += 1;
                        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
                    }
                }
                (agent.backlog(), refusals)
            })
        })
        .collect();
    let mut results = Vec::new();
    for drain in drains {
        results.push(drain.await.unwrap());
    }
    assert!(results.iter().all(|(backlog, _)| *backlog == 0), "outboxes did not drain: {results:?}");
    controller.stop().await;

    let store = Store::open(&data, &Default::default()).unwrap();
    for i in 0..12 {
        let host = format!("agent{i:02}.example");
        let seqs: Vec<u64> = store.host_reports(&host).unwrap().iter().map(|r| r.seq).collect();
        assert_eq!(seqs, (1..=8).collect::<Vec<_>>(), "{host}");
    }
}
