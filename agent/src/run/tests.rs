//! Agent tests against a real gRPC server on loopback with a scripted
//! `AgentService`, and a real sled outbox in a temporary directory.

#![allow(clippy::unwrap_used)]

use std::collections::HashSet;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use rblfleet_proto::v1::agent_service_server::{AgentService, AgentServiceServer};
use rblfleet_proto::v1::{MtaKind, ReportAck};
use tokio::sync::oneshot;
use tonic::{Request, Response, Status};

use std::time::Duration;

use super::*;

mod domains;
mod failover;
mod logs;
mod poison;
mod tls;

/// How the scripted controller answers.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Mode {
    Accept,
    /// Store the report, then fail as if the ack was lost.
    StoreThenFail,
    Unavailable,
    /// Refuse this seq with INVALID_ARGUMENT, accept the rest.
    RejectSeq(u64),
    /// Acknowledge seq + 1000.
    WrongAck,
}

#[derive(Debug)]
struct State {
    mode: Mode,
    stored: HashSet<(u64, u64)>,
    /// Every (epoch, seq) stored, in arrival order.
    order: Vec<(u64, u64)>,
    attempts: usize,
    last: Option<HostReport>,
    /// Whether the last request came with a client certificate.
    peer_cert: bool,
}

#[derive(Debug, Clone)]
struct Fake(Arc<Mutex<State>>);

#[tonic::async_trait]
impl AgentService for Fake {
    async fn hello(
        &self,
        _request: Request<rblfleet_proto::v1::HelloRequest>,
    ) -> Result<Response<rblfleet_proto::v1::HelloResponse>, Status> {
        Err(Status::unimplemented("not used by these tests"))
    }

    async fn report(&self, request: Request<HostReport>) -> Result<Response<ReportAck>, Status> {
        let peer_cert = request.peer_certs().is_some_and(|certs| !certs.is_empty());
        let report = request.into_inner();
        let mut state = self.0.lock().unwrap();
        state.attempts += 1;
        state.peer_cert = peer_cert;
        let key = (report.epoch, report.seq);
        let store = |state: &mut State| {
            let fresh = state.stored.insert(key);
            if fresh {
                state.order.push(key);
            }
            state.last = Some(report.clone());
            fresh
        };
        let ack = |seq: u64, duplicate: bool| {
            Ok(Response::new(ReportAck { epoch: report.epoch, seq, duplicate, stored_at_ms: 1, actions: Vec::new() }))
        };
        match state.mode {
            Mode::Unavailable => Err(Status::unavailable("down for maintenance")),
            Mode::RejectSeq(seq) if seq == report.seq => Err(Status::invalid_argument("ips[0].address: not an IP")),
            Mode::StoreThenFail => {
                store(&mut state);
                Err(Status::unavailable("lost the ack"))
            }
            Mode::WrongAck => ack(report.seq + 1000, false),
            Mode::Accept | Mode::RejectSeq(_) => {
                let fresh = store(&mut state);
                ack(report.seq, !fresh)
            }
        }
    }
}

struct Controller {
    state: Arc<Mutex<State>>,
    addr: SocketAddr,
    _stop: oneshot::Sender<()>,
}

impl Controller {
    async fn start(mode: Mode) -> Controller {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        Self::serve(listener, mode)
    }

    fn serve(listener: tokio::net::TcpListener, mode: Mode) -> Controller {
        Self::serve_with(listener, mode, tonic::transport::Server::builder())
    }

    fn serve_with(listener: tokio::net::TcpListener, mode: Mode, mut server: tonic::transport::Server) -> Controller {
        let addr = listener.local_addr().unwrap();
        let state = Arc::new(Mutex::new(State {
            mode,
            stored: HashSet::new(),
            order: Vec::new(),
            attempts: 0,
            last: None,
            peer_cert: false,
        }));
        let (stop, stopped) = oneshot::channel::<()>();
        let service = AgentServiceServer::new(Fake(state.clone()));
        tokio::spawn(async move {
            server
                .add_service(service)
                .serve_with_incoming_shutdown(tokio_stream::wrappers::TcpListenerStream::new(listener), async {
                    let _ = stopped.await;
                })
                .await
                .unwrap();
        });
        Controller { state, addr, _stop: stop }
    }

    fn set_mode(&self, mode: Mode) {
        self.state.lock().unwrap().mode = mode;
    }

    fn order(&self) -> Vec<(u64, u64)> {
        self.state.lock().unwrap().order.clone()
    }
}

/// Every file the agent reads lives in `dir`, domain sources included (so
/// the host's own /var/www/vhosts never shows up in a test).
fn config(addr: SocketAddr, dir: &std::path::Path) -> Config {
    Config::from_toml_str(&format!(
        "host_id = \"web07.example.net\"\n\
         [controller]\nurl = \"http://{addr}\"\ntimeout = \"2s\"\n\
         [report]\ninterval = \"100ms\"\n\
         [outbox]\ndir = \"{}\"\nmax_reports = 50\n\
         [retry]\ninitial = \"10ms\"\nmax = \"50ms\"\n\
         [logs]\npaths = [\"{}\"]\nread_existing = true\n\
         [queue]\nmta = \"none\"\n\
         [sources]\npasswd = \"{}\"\n\
         [domains]\nplesk = \"{d}/plesk\"\npostfix_map = \"{d}/virtual_domains\"\n\
         qmail_virtualdomains = \"{d}/virtualdomains\"\nqmail_rcpthosts = \"{d}/rcpthosts\"\n\
         mailenable_domains = \"{d}/DOMAIN.TAB\"\nvhosts_dir = \"{d}/vhosts\"\n",
        dir.join("outbox").display(),
        dir.join("mail.log").display(),
        dir.join("passwd").display(),
        d = dir.display(),
    ))
    .unwrap()
}

const INSECURE: RunOptions = RunOptions { insecure: true };

#[tokio::test]
async fn tick_builds_a_complete_report() {
    let dir = tempfile::tempdir().unwrap();
    let mut agent = Agent::open(config("127.0.0.1:1".parse().unwrap(), dir.path()), INSECURE).await.unwrap();
    assert_eq!(agent.tick().unwrap(), 1);
    assert_eq!(agent.tick().unwrap(), 2);
    assert_eq!(agent.backlog(), 2);
    let first = agent.outbox.peek_oldest().unwrap().unwrap();
    assert_eq!(first.host_id, "web07.example.net");
    assert_eq!((first.epoch, first.seq), (agent.epoch(), 1));
    assert_eq!(first.period_end_ms - first.period_start_ms, 100);
    let info = first.agent.unwrap();
    assert_eq!(info.version, env!("CARGO_PKG_VERSION"));
    assert!(info.os.starts_with(std::env::consts::OS));
    assert_eq!(info.mta, MtaKind::None as i32, "queue.mta = none");
    let status = first.status.unwrap();
    assert_eq!(status.outbox_backlog, 0);
    assert!(status.collectors.iter().any(|c| c.name == "ips" && c.ok));
    assert!(status.collectors.iter().any(|c| c.name == "logs" && c.ok), "a missing log file is waited for");
    assert_eq!(first.deliveries, Some(Default::default()));
    agent.outbox.ack(1).unwrap();
    let second = agent.outbox.peek_oldest().unwrap().unwrap();
    assert_eq!(second.period_start_ms, first.period_end_ms);
    assert_eq!(second.status.unwrap().outbox_backlog, 1);
}

#[tokio::test]
async fn flush_sends_in_order_and_counts_duplicates() {
    let dir = tempfile::tempdir().unwrap();
    let controller = Controller::start(Mode::StoreThenFail).await;
    let mut agent = Agent::open(config(controller.addr, dir.path()), INSECURE).await.unwrap();
    for _ in 0..3 {
        agent.tick().unwrap();
    }
    let out = agent.flush().await;
    assert_eq!((out.sent, out.duplicates, out.rejected), (0, 0, 0));
    assert!(matches!(out.last_error, Some(AgentError::Send(SendError::Retry { .. }))));
    assert_eq!(agent.backlog(), 3);

    controller.set_mode(Mode::Accept);
    let out = agent.flush().await;
    assert_eq!((out.sent, out.duplicates, out.rejected), (2, 1, 0));
    assert!(out.last_error.is_none(), "{:?}", out.last_error);
    assert_eq!(agent.backlog(), 0);
    let epoch = agent.epoch();
    assert_eq!(controller.order(), [(epoch, 1), (epoch, 2), (epoch, 3)]);
    let last = controller.state.lock().unwrap().last.clone().unwrap();
    assert_eq!(last.host_id, "web07.example.net");
}

#[tokio::test]
async fn rejected_report_is_dropped_and_the_queue_moves_on() {
    let dir = tempfile::tempdir().unwrap();
    let controller = Controller::start(Mode::RejectSeq(1)).await;
    let mut agent = Agent::open(config(controller.addr, dir.path()), INSECURE).await.unwrap();
    agent.tick().unwrap();
    agent.tick().unwrap();
    let out = agent.flush().await;
    assert_eq!((out.sent, out.rejected), (1, 1));
    let e = out.last_error.unwrap().to_string();
    assert!(e.contains("INVALID_ARGUMENT") && e.contains("not an IP"), "{e}");
    assert_eq!(agent.backlog(), 0);
    assert_eq!(agent.outbox.rejected().unwrap(), 1);
}

#[tokio::test]
async fn wrong_ack_keeps_the_report() {
    let dir = tempfile::tempdir().unwrap();
    let controller = Controller::start(Mode::WrongAck).await;
    let mut agent = Agent::open(config(controller.addr, dir.path()), INSECURE).await.unwrap();
    agent.tick().unwrap();
    let out = agent.flush().await;
    assert!(matches!(out.last_error, Some(AgentError::AckMismatch { seq: 1, ack_seq: 1001, .. })));
    assert_eq!(agent.backlog(), 1);
}

#[tokio::test]
async fn controller_down_at_start_then_up() {
    let dir = tempfile::tempdir().unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    drop(listener);
    let mut agent = Agent::open(config(addr, dir.path()), INSECURE).await.unwrap();
    agent.tick().unwrap();
    let out = agent.flush().await;
    assert!(out.last_error.is_some());
    agent.tick().unwrap();
    assert_eq!(agent.backlog(), 2);

    let controller = Controller::serve(tokio::net::TcpListener::bind(addr).await.unwrap(), Mode::Accept);
    let mut out = agent.flush().await;
    if out.sent == 0 {
        // The channel may report the old connection failure once before reconnecting.
        out = agent.flush().await;
    }
    assert_eq!(out.sent, 2, "{:?}", out.last_error);
    assert_eq!(controller.order().len(), 2);
}

#[tokio::test]
async fn backlog_survives_restart_with_the_same_epoch() {
    let dir = tempfile::tempdir().unwrap();
    let controller = Controller::start(Mode::Unavailable).await;
    let epoch = {
        let mut agent = Agent::open(config(controller.addr, dir.path()), INSECURE).await.unwrap();
        agent.tick().unwrap();
        agent.tick().unwrap();
        agent.epoch()
    };
    controller.set_mode(Mode::Accept);
    let mut agent = Agent::open(config(controller.addr, dir.path()), INSECURE).await.unwrap();
    assert_eq!((agent.epoch(), agent.backlog()), (epoch, 2));
    assert_eq!(agent.tick().unwrap(), 3);
    assert_eq!(agent.flush().await.sent, 3);
    assert_eq!(controller.order(), [(epoch, 1), (epoch, 2), (epoch, 3)]);
}

#[tokio::test]
async fn second_agent_on_the_same_outbox_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let c = config("127.0.0.1:1".parse().unwrap(), dir.path());
    let _first = Agent::open(c.clone(), INSECURE).await.unwrap();
    let e = Agent::open(c, INSECURE).await.unwrap_err().to_string();
    assert!(e.contains("in use by another rblfleet-agent"), "{e}");
}

#[tokio::test]
async fn open_checks_the_transport() {
    let dir = tempfile::tempdir().unwrap();
    let c = config("127.0.0.1:1".parse().unwrap(), dir.path());
    let e = Agent::open(c, RunOptions::default()).await.unwrap_err();
    assert!(matches!(e, AgentError::Config(_)), "{e}");
}

#[tokio::test]
async fn run_keeps_ticking_through_an_outage_and_delivers_in_order() {
    let dir = tempfile::tempdir().unwrap();
    let controller = Controller::start(Mode::Unavailable).await;
    let agent = Agent::open(config(controller.addr, dir.path()), INSECURE).await.unwrap();
    let (stop, stopped) = oneshot::channel::<()>();
    let task = tokio::spawn(agent.run(async {
        let _ = stopped.await;
    }));

    // Several failed attempts while down: the agent retries.
    wait_for(&controller.state, "retries", |s| s.attempts >= 3).await;
    controller.set_mode(Mode::Accept);
    wait_for(&controller.state, "the backlog", |s| s.order.len() >= 4).await;
    stop.send(()).unwrap();
    tokio::time::timeout(Duration::from_secs(5), task).await.expect("run returns promptly on shutdown").unwrap();

    let order = controller.order();
    let seqs: Vec<u64> = order.iter().map(|(_, seq)| *seq).collect();
    let expected: Vec<u64> = (1..=seqs.len() as u64).collect();
    assert_eq!(seqs, expected, "delivered in seq order without gaps");
}

async fn wait_for(state: &Arc<Mutex<State>>, what: &str, cond: impl Fn(&State) -> bool) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while !cond(&state.lock().unwrap()) {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

#[test]
fn pretty_name_from_os_release() {
    let text = "NAME=\"Debian GNU/Linux\"\nPRETTY_NAME=\"Debian GNU/Linux 12 (bookworm)\"\n";
    assert_eq!(pretty_name(text).unwrap(), "Debian GNU/Linux 12 (bookworm)");
    assert_eq!(pretty_name("NAME=x\n"), None);
    assert_eq!(pretty_name("PRETTY_NAME=\n"), None);
}

#[test]
fn public_types_are_send_and_sync() {
    fn send_sync<T: Send + Sync + 'static>() {}
    fn send<T: Send + 'static>() {}
    send_sync::<AgentError>();
    send_sync::<FlushOutcome>();
    send::<Agent>();
}

#[test]
fn an_overload_hint_sets_the_floor_of_the_retry_delay() {
    let shed = |hint_ms: Option<u64>| {
        AgentError::Send(SendError::Retry {
            code: "RESOURCE_EXHAUSTED",
            message: "over capacity".into(),
            needs_operator: false,
            retry_after: hint_ms.map(Duration::from_millis),
        })
    };
    let mut backoff = Backoff::new(Duration::from_millis(1), Duration::from_millis(2));
    for _ in 0..50 {
        let delay = retry_delay(&mut backoff, &shed(Some(400)));
        assert!((400..=800).contains(&delay.as_millis()), "hint 400 ms plus up to as much jitter, got {delay:?}");
        assert!(retry_delay(&mut backoff, &shed(None)) <= Duration::from_millis(2), "no hint: the backoff alone");
    }
}
