//! Several controllers (`controller.urls`): the agent keeps to the one that
//! answers, moves on when it stops answering, never for a refusal, and no
//! report is lost on the way (scripted controllers on loopback, real sled).

use super::*;

/// A config for `urls` (plaintext loopback), everything else as `config`.
fn config_for(urls: &[SocketAddr], dir: &std::path::Path) -> Config {
    let mut c = config(urls[0], dir);
    c.controller.url = None;
    c.controller.urls = Some(urls.iter().map(|a| format!("http://{a}")).collect());
    c
}

fn seqs(controller: &Controller) -> Vec<u64> {
    controller.order().into_iter().map(|(_, seq)| seq).collect()
}

#[tokio::test]
async fn an_unavailable_controller_fails_over_and_the_agent_stays_on_the_next() {
    let dir = tempfile::tempdir().unwrap();
    let (a, b) = (Controller::start(Mode::Accept).await, Controller::start(Mode::Accept).await);
    let mut agent = Agent::open(config_for(&[a.addr, b.addr], dir.path()), INSECURE).await.unwrap();
    agent.tick().unwrap();
    assert_eq!(agent.flush().await.sent, 1);
    assert_eq!(agent.controller_in_use(), Some(format!("http://{}", a.addr).as_str()));

    a.set_mode(Mode::Unavailable);
    agent.tick().unwrap();
    agent.tick().unwrap();
    let out = agent.flush().await;
    assert_eq!(out.sent, 2, "{:?}", out.last_error);
    assert!(out.last_error.is_none(), "{:?}", out.last_error);
    assert_eq!((seqs(&a), seqs(&b)), (vec![1], vec![2, 3]));
    let b_url = format!("http://{}", b.addr);
    assert_eq!(agent.controller_in_use(), Some(b_url.as_str()));
    // Recorded for the doctor, with where it came from and why.
    let record = crate::store::in_use::read(&dir.path().join("outbox")).unwrap().unwrap();
    assert_eq!(record.url, b_url);
    assert_eq!(record.previous, Some(format!("http://{}", a.addr)));
    assert!(record.reason.as_deref().unwrap_or_default().contains("down for maintenance"), "{record:?}");

    // A is back: the agent stays with B (no flapping).
    a.set_mode(Mode::Accept);
    agent.tick().unwrap();
    assert_eq!(agent.flush().await.sent, 1);
    assert_eq!((seqs(&a), seqs(&b)), (vec![1], vec![2, 3, 4]));
}

#[tokio::test]
async fn a_controller_that_is_not_listening_is_skipped() {
    let dir = tempfile::tempdir().unwrap();
    let closed = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap().local_addr().unwrap();
    let b = Controller::start(Mode::Accept).await;
    let mut agent = Agent::open(config_for(&[closed, b.addr], dir.path()), INSECURE).await.unwrap();
    for _ in 0..3 {
        agent.tick().unwrap();
    }
    let out = agent.flush().await;
    assert_eq!(out.sent, 3, "{:?}", out.last_error);
    assert_eq!(seqs(&b), [1, 2, 3]);
}

/// A controller that accepts connections and never answers (hung, or a
/// firewall that drops): the send runs into `controller.timeout` and moves on.
#[tokio::test]
async fn a_controller_that_never_answers_is_left_after_the_timeout() {
    let dir = tempfile::tempdir().unwrap();
    let silent = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let silent_addr = silent.local_addr().unwrap();
    tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((socket, _)) = silent.accept().await {
            held.push(socket);
        }
    });
    let b = Controller::start(Mode::Accept).await;
    let mut c = config_for(&[silent_addr, b.addr], dir.path());
    c.controller.timeout = Duration::from_millis(300);
    let mut agent = Agent::open(c, INSECURE).await.unwrap();
    agent.tick().unwrap();
    let out = agent.flush().await;
    assert_eq!(out.sent, 1, "{:?}", out.last_error);
    assert_eq!(seqs(&b), [1]);
    assert_eq!(agent.controller_in_use(), Some(format!("http://{}", b.addr).as_str()));
}

#[tokio::test]
async fn a_refusal_is_not_a_reason_to_fail_over() {
    let dir = tempfile::tempdir().unwrap();
    let (a, b) = (Controller::start(Mode::RejectSeq(1)).await, Controller::start(Mode::Accept).await);
    let mut agent = Agent::open(config_for(&[a.addr, b.addr], dir.path()), INSECURE).await.unwrap();
    agent.tick().unwrap();
    agent.tick().unwrap();
    let out = agent.flush().await;
    assert_eq!((out.sent, out.rejected), (1, 1));
    // B never saw the refused report: every controller would refuse it.
    assert_eq!((seqs(&a), seqs(&b)), (vec![2], vec![]));
    assert_eq!(b.state.lock().unwrap().attempts, 0);
}

#[tokio::test]
async fn every_controller_down_keeps_the_reports_and_names_each() {
    let dir = tempfile::tempdir().unwrap();
    let (a, b) = (Controller::start(Mode::Unavailable).await, Controller::start(Mode::Unavailable).await);
    let mut agent = Agent::open(config_for(&[a.addr, b.addr], dir.path()), INSECURE).await.unwrap();
    agent.tick().unwrap();
    agent.tick().unwrap();
    let out = agent.flush().await;
    assert_eq!(out.sent, 0);
    let e = out.last_error.unwrap().to_string();
    assert!(e.contains("every controller failed") && e.contains(&a.addr.to_string()), "{e}");
    assert!(e.contains(&b.addr.to_string()), "{e}");
    // One round per flush: each controller was asked once.
    assert_eq!((a.state.lock().unwrap().attempts, b.state.lock().unwrap().attempts), (1, 1));
    assert_eq!(agent.backlog(), 2);
    assert_eq!(agent.controller_in_use(), None);

    b.set_mode(Mode::Accept);
    let out = agent.flush().await;
    assert_eq!(out.sent, 2, "{:?}", out.last_error);
    assert_eq!(seqs(&b), [1, 2]);
}

/// A controller that stored a report but whose answer was lost: the agent
/// cannot know, resends to the next controller, and the report is in both
/// stores. On one shared store the (host, epoch, seq) check makes it a
/// duplicate; on separate stores it is the one report that may be twice.
#[tokio::test]
async fn an_unknown_outcome_is_resent_to_the_next_controller() {
    let dir = tempfile::tempdir().unwrap();
    let (a, b) = (Controller::start(Mode::StoreThenFail).await, Controller::start(Mode::Accept).await);
    let mut agent = Agent::open(config_for(&[a.addr, b.addr], dir.path()), INSECURE).await.unwrap();
    agent.tick().unwrap();
    assert_eq!(agent.flush().await.sent, 1);
    assert_eq!((seqs(&a), seqs(&b)), (vec![1], vec![1]));
    assert_eq!(agent.backlog(), 0);
}
