//! How the simulated agents answer refusals, against a gRPC server that
//! refuses on a script: the real controller sheds load only when it is
//! actually overloaded, which a test cannot arrange deterministically.
//!
//! Every report is refused twice (RESOURCE_EXHAUSTED with a 200 ms retry
//! hint, then UNAVAILABLE without one) and accepted the third time; one
//! report is refused for good (INVALID_ARGUMENT).

#![allow(clippy::unwrap_used)]

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use prost::Message;
use rblfleet_controller::server::RETRY_PUSHBACK_KEY;
use rblfleet_loadgen::{Load, LoadConfig, pki, run};
use rblfleet_proto::v1::agent_service_server::{AgentService, AgentServiceServer};
use rblfleet_proto::v1::{HostReport, ReportAck};
use rblfleet_tests::Pki;
use rblfleet_tests::generate::Fleet;
use tokio_stream::wrappers::TcpListenerStream;
use tonic::transport::{Certificate, Identity, Server, ServerTlsConfig};
use tonic::{Request, Response, Status};

const HINT_MS: u64 = 200;

/// One attempt as the server saw it.
#[derive(Debug, Clone)]
struct Attempt {
    host: String,
    seq: u64,
    at: Instant,
    encoded: Vec<u8>,
}

#[derive(Debug, Default, Clone)]
struct Scripted {
    attempts: Arc<Mutex<Vec<Attempt>>>,
    refuse_for_good: Arc<Mutex<Option<(String, u64)>>>,
}

#[tonic::async_trait]
impl AgentService for Scripted {
    async fn hello(
        &self,
        _request: Request<rblfleet_proto::v1::HelloRequest>,
    ) -> Result<Response<rblfleet_proto::v1::HelloResponse>, Status> {
        Err(Status::unimplemented("not used by these tests"))
    }

    async fn report(&self, request: Request<HostReport>) -> Result<Response<ReportAck>, Status> {
        let report = request.into_inner();
        let attempt = Attempt {
            host: report.host_id.clone(),
            seq: report.seq,
            at: Instant::now(),
            encoded: report.encode_to_vec(),
        };
        let mut attempts = self.attempts.lock().unwrap();
        let earlier = attempts.iter().filter(|a| a.host == attempt.host && a.seq == attempt.seq).count();
        attempts.push(attempt);
        if self.refuse_for_good.lock().unwrap().as_ref() == Some(&(report.host_id.clone(), report.seq)) {
            return Err(Status::invalid_argument("invalid report: scripted"));
        }
        match earlier {
            0 => {
                let mut status = Status::resource_exhausted("scripted: busy");
                status.metadata_mut().insert(RETRY_PUSHBACK_KEY, HINT_MS.to_string().parse().unwrap());
                Err(status)
            }
            1 => Err(Status::unavailable("scripted: cannot store right now")),
            _ => Ok(Response::new(ReportAck {
                epoch: report.epoch,
                seq: report.seq,
                duplicate: false,
                stored_at_ms: 1,
                actions: Vec::new(),
            })),
        }
    }
}

async fn serve(pki: &Pki, service: Scripted) -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let read = |name: &str| std::fs::read(pki.dir.join(name)).unwrap();
    let tls = ServerTlsConfig::new()
        .identity(Identity::from_pem(read("controller.crt"), read("controller.key")))
        .client_ca_root(Certificate::from_pem(read("ca.crt")));
    let router = Server::builder().tls_config(tls).unwrap().add_service(AgentServiceServer::new(service));
    tokio::spawn(router.serve_with_incoming(TcpListenerStream::new(listener)));
    addr
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refused_reports_are_kept_resent_unchanged_in_order_and_after_the_hint() {
    let dir = tempfile::tempdir().unwrap();
    let ca = Pki::new(&dir.path().join("ca"));
    let fleet = Arc::new(Fleet::new(3, 4));
    let hosts: Vec<&str> = (0..fleet.len()).map(|i| fleet.host_id(i)).collect();
    pki::ensure_agents(&ca.dir, &hosts).unwrap();
    let service = Scripted::default();
    *service.refuse_for_good.lock().unwrap() = Some((fleet.host_id(0).to_string(), 2));
    let addr = serve(&ca, service.clone()).await;

    // 4 agents x 5 reports (one every 200 ms for 1 s).
    let config = LoadConfig {
        url: format!("https://127.0.0.1:{}", addr.port()),
        tls_name: "localhost".into(),
        pki: ca.dir.clone(),
        load: Load::Rate { per_second: 20.0 },
        duration: Duration::from_secs(1),
        drain: Duration::from_secs(60),
        seed: 3,
        epoch: 9,
        connect_concurrency: 4,
        rpc_timeout: Duration::from_secs(10),
        backoff_initial: Duration::from_millis(20),
        backoff_max: Duration::from_millis(50),
        sample_every: Duration::from_secs(1),
        controller_pid: None,
        data: None,
        progress: false,
    };
    let s = run(&config, fleet.clone()).await.unwrap();

    assert_eq!(s.generated, 20);
    assert_eq!((s.acked, s.rejected, s.unacked), (19, 1, 0), "{s:#?}");
    assert!(!s.lossless(), "a rejected report is not lossless");
    assert_eq!(s.errors.get("RESOURCE_EXHAUSTED"), Some(&19));
    assert_eq!(s.errors.get("UNAVAILABLE"), Some(&19));
    assert_eq!(s.errors.get("INVALID_ARGUMENT"), Some(&1));
    assert_eq!(s.retries, 38);

    let attempts = service.attempts.lock().unwrap().clone();
    assert_eq!(attempts.len(), 19 * 3 + 1);
    for host in &hosts {
        let mine: Vec<&Attempt> = attempts.iter().filter(|a| a.host == *host).collect();
        // In order: one report at a time, each until acked (or refused for good).
        let seqs: Vec<u64> = mine.iter().map(|a| a.seq).collect();
        let mut sorted = seqs.clone();
        sorted.sort();
        assert_eq!(seqs, sorted, "{host}: {seqs:?}");
        for seq in 1..=5 {
            let tries: Vec<&&Attempt> = mine.iter().filter(|a| a.seq == seq).collect();
            if *host == fleet.host_id(0) && seq == 2 {
                assert_eq!(tries.len(), 1, "a report refused for good is not resent");
                continue;
            }
            assert_eq!(tries.len(), 3, "{host} seq {seq}");
            assert!(tries.iter().all(|a| a.encoded == tries[0].encoded), "{host} seq {seq}: resent report changed");
            let waited = tries[1].at - tries[0].at;
            assert!(waited >= Duration::from_millis(HINT_MS), "{host} seq {seq}: resent after {waited:?}");
        }
    }
}
