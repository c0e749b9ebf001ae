//! What the Plesk-limit, quarantine and delete tests share: a controller
//! that signs actions and requires an admin certificate (so the audit names
//! a person, not "local"), a mail log whose Microsoft refusals name the
//! host's IP (so the host has an open case for the notes to land on), an
//! in-process agent, and one helper per containment step.

use std::fmt::Write as _;
use std::path::Path;

use rblfleet_agent::Agent;
use rblfleet_tests::{Controller, Pki, controller_config};
use serde_json::Value;

use super::rounds;

/// The admin certificate's name: who plans, applies and undoes.
pub const ADMIN: &str = "noc-alice";

/// A controller with an action key and an admin certificate for [`ADMIN`].
pub struct Noc {
    pub controller: Controller,
    pub pki: Pki,
    /// The action public key, hex, for the agents' `[actions] controller_key`.
    pub public: String,
    tls: [String; 3],
}

impl Noc {
    pub async fn start(dir: &Path) -> Noc {
        let pki = Pki::new(&dir.join("ca"));
        let (key, public) = rblfleet_controller::ca::action_key(&dir.join("ca")).unwrap();
        let mut config = controller_config(&pki, &dir.join("data"), 0, true);
        config.actions.key = Some(key);
        let controller = Controller::start_with(config).await;
        let (cert, key) = pki.admin(ADMIN);
        let tls = [
            format!("--ca={}", pki.ca_cert().display()),
            format!("--cert={}", cert.display()),
            format!("--key={}", key.display()),
        ];
        Noc { controller, pki, public: public.iter().map(|b| format!("{b:02x}")).collect(), tls }
    }

    /// `rblfleet ARGS` with the admin certificate.
    pub async fn cli(&self, args: &[&str]) -> anyhow::Result<String> {
        let mut all: Vec<&str> = args.to_vec();
        all.extend(self.tls.iter().map(String::as_str));
        self.controller.cli(&all).await
    }

    /// `rblfleet ARGS --format json`, parsed.
    pub async fn json(&self, args: &[&str]) -> Value {
        let mut all = args.to_vec();
        all.extend(["--format", "json"]);
        let out = self.cli(&all).await.unwrap_or_else(|e| panic!("rblfleet {args:?}: {e:#}"));
        serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {out}"))
    }

    /// One containment step (`contain plan|apply|undo …`) without waiting,
    /// then two report rounds of `agent` (the ack carries the action, the
    /// next report its result): returns the record as `contain show` has it.
    pub async fn step(&self, agent: &mut Agent, args: &[&str]) -> Value {
        let mut all = vec!["contain"];
        all.extend(args);
        all.extend(["--wait", "0s"]);
        let sent = self.json(&all).await;
        let id = sent["id"].as_str().unwrap_or_else(|| panic!("{sent}")).to_string();
        rounds(agent).await;
        self.json(&["contain", "show", &id]).await
    }

    /// Plans, expects the agent's dry run to be ready, applies with a reason:
    /// returns (plan, applied action).
    pub async fn plan_and_apply(&self, agent: &mut Agent, plan: &[&str], reason: &str) -> (Value, Value) {
        let mut args = vec!["plan"];
        args.extend(plan);
        let ready = self.step(agent, &args).await;
        assert_eq!(ready["state"], "plan_ready", "{ready}");
        let plan_id = ready["id"].as_str().unwrap().to_string();
        let done = self.step(agent, &["apply", &plan_id, "--reason", reason]).await;
        (ready, done)
    }

    /// The open case of `ip` (opened by the receiver-side listing in the log).
    pub async fn case_id(&self, ip: &str) -> u64 {
        let report = self.json(&["report"]).await;
        let rows = report["listings"].as_array().cloned().unwrap_or_default();
        let row = rows.iter().find(|r| r["ip"] == ip).unwrap_or_else(|| panic!("no listing of {ip}: {report}"));
        row["case"]["id"].as_u64().unwrap_or_else(|| panic!("no case for {ip}: {row}"))
    }

    /// The (who, note) of every containment entry on case `id`, in order.
    pub async fn case_notes(&self, id: u64) -> Vec<(String, String)> {
        let case = self.json(&["case", &id.to_string()]).await;
        case["history"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|e| e["action"] == "contain")
            .map(|e| (e["who"].as_str().unwrap().to_string(), e["note"].as_str().unwrap_or_default().to_string()))
            .collect()
    }
}

/// A mail log of six messages refused by Microsoft naming `ip` (a
/// receiver-side listing: the host gets a case). `origin(qid)` gives each
/// message's lines before the queue manager's (the SASL login, the PHP
/// pickup…); `sender` is its envelope sender.
pub fn refused_mail_log(path: &Path, ip: &str, sender: &str, origin: impl Fn(&str) -> String) {
    let mut out = String::new();
    for i in 0..6 {
        let qid = format!("C{i:04X}");
        out.push_str(&origin(&qid));
        let _ = writeln!(
            out,
            "Dec  4 10:00:00 web postfix/qmgr[2]: {qid}: from=<{sender}>, size=900, nrcpt=1 (queue active)\n\
             Dec  4 10:00:01 web postfix/smtp[3]: {qid}: to=<u{i}@hotmail.com>, \
             relay=hotmail-com.olc.protection.outlook.com[104.47.66.33]:25, delay=0.7, delays=0/0/0.5/0.2, \
             dsn=5.7.1, status=bounced (host hotmail-com.olc.protection.outlook.com[104.47.66.33] said: 550 5.7.1 \
             Unfortunately, messages from [{ip}] weren't sent. Please contact your Internet service provider since \
             part of their network is on our block list (S3140). (in reply to MAIL FROM command))"
        );
    }
    std::fs::write(path, out).unwrap();
}

/// A real agent for `host` sending from `ip`, reading `maillog`, with
/// `extra` configuration sections (`[sources]`, `[actions]`); it has
/// reported twice when this returns.
pub async fn agent(noc: &Noc, host: &str, ip: &str, dir: &Path, maillog: &Path, extra: &str) -> Agent {
    let url = noc.controller.agent_url();
    let mut agent = rblfleet_tests::log_agent(&noc.pki, host, ip, &url, dir, maillog, extra).await;
    rounds(&mut agent).await;
    agent
}
