//! A controller and two agents with real certificates; the CLI sees both.

use rblfleet_agent::{Agent, Config as AgentConfig, RunOptions};
use rblfleet_tests::{Controller, Pki, agent_toml};
use serde_json::Value;

#[tokio::test]
async fn two_agents_appear_in_hosts_json() {
    let tmp = tempfile::tempdir().unwrap();
    let pki = Pki::new(&tmp.path().join("ca"));
    let controller = Controller::start(&pki, &tmp.path().join("data"), 0, false).await;

    for host in ["web01.example", "web02.example"] {
        let toml = agent_toml(&pki, host, &controller.agent_url(), &tmp.path().join(host));
        let mut agent = Agent::open(AgentConfig::from_toml_str(&toml).unwrap(), RunOptions::default()).await.unwrap();
        agent.tick().unwrap();
        let outcome = agent.flush().await;
        assert_eq!(outcome.sent, 1, "{host}: {outcome:?}");
        assert_eq!(agent.backlog(), 0);
    }

    let out = controller.cli(&["hosts", "--format", "json"]).await.unwrap();
    let hosts: Vec<Value> = serde_json::from_str(&out).unwrap();
    let ids: Vec<&str> = hosts.iter().map(|h| h["host_id"].as_str().unwrap()).collect();
    assert_eq!(ids, ["web01.example", "web02.example"]);
    for host in &hosts {
        assert_eq!(host["reports_stored"], 1);
        assert_eq!(host["silent"], false);
        assert_eq!(host["agent_version"], env!("CARGO_PKG_VERSION"));
        let ips: Vec<&str> = host["ips"].as_array().unwrap().iter().map(|ip| ip["address"].as_str().unwrap()).collect();
        assert!(ips.contains(&"203.0.113.10"), "{ips:?}");
        assert!(ips.contains(&"2001:db8::10"), "{ips:?}");
    }

    // The drill-down and the table render the same host.
    let detail: Value =
        serde_json::from_str(&controller.cli(&["host", "web02.example", "--format", "json"]).await.unwrap()).unwrap();
    assert_eq!(detail["host_id"], "web02.example");
    assert_eq!(detail["last_seq"], 1);
    // The certificate the agent connected with (the test PKI issues for 30 days).
    assert!(detail["certificate_expires"].as_str().is_some_and(|t| t.ends_with('Z')), "{detail}");
    let host = controller.cli(&["host", "web02.example"]).await.unwrap();
    assert!(
        host.contains("\ncertificate  expires ") && host.contains(" (in 30 days): renew it (rblfleet ca renew)\n"),
        "{host}"
    );
    let table = controller.cli(&["hosts"]).await.unwrap();
    assert!(table.contains("web01.example") && table.contains("2 hosts, 0 silent"), "{table}");

    let missing = controller.cli(&["host", "nosuch.example"]).await.unwrap_err();
    assert!(missing.to_string().contains("no host \"nosuch.example\""), "{missing:#}");
    controller.stop().await;
}

#[tokio::test]
async fn admin_api_with_required_certificates() {
    let tmp = tempfile::tempdir().unwrap();
    let pki = Pki::new(&tmp.path().join("ca"));
    let controller = Controller::start(&pki, &tmp.path().join("data"), 0, true).await;
    let (admin_cert, admin_key) = pki.admin("noc-alice");
    let (agent_cert, agent_key) = pki.agent("web01.example");
    let ca = pki.ca_cert();
    let with = |cert: &std::path::Path, key: &std::path::Path| {
        vec![
            "hosts".to_string(),
            "--format=json".into(),
            format!("--ca={}", ca.display()),
            format!("--cert={}", cert.display()),
            format!("--key={}", key.display()),
        ]
    };

    let args = with(&admin_cert, &admin_key);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let out = controller.cli(&args).await.unwrap();
    assert_eq!(serde_json::from_str::<Value>(&out).unwrap(), Value::Array(vec![]));

    // An agent certificate is not an admin certificate.
    let args = with(&agent_cert, &agent_key);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let err = controller.cli(&args).await.unwrap_err().to_string();
    assert!(err.contains("needs an admin certificate") && err.contains("web01.example"), "{err}");

    // No certificate at all: the CLI says what it needs before connecting.
    let err = controller.cli(&["hosts"]).await.unwrap_err().to_string();
    assert!(err.contains("--cert"), "{err}");
    controller.stop().await;
}

#[tokio::test]
async fn cli_names_the_address_when_no_controller_runs() {
    // Bind and drop a listener to get a port nothing listens on.
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let url = format!("http://127.0.0.1:{port}");
    let mut out = Vec::new();
    let err = rblfleet_controller::cli::run_args(["rblfleet", "hosts", "--controller", &url], &mut out)
        .await
        .unwrap_err()
        .to_string();
    assert!(err.contains(&url) && err.contains("rblfleet serve"), "{err}");
}
