//! Hostile bytes on the agent API, below the report's fields: broken protobuf
//! and lying gRPC frames are refused by the decoder with a clear status, store
//! nothing, and the same agent's next valid report is taken.

use prost::Message;
use rblfleet_proto::v1::{BlocklistEvidence, HostReport};
use rblfleet_tests::raw_grpc::{frame_header, report_bytes, report_frames, report_held_open};
use rblfleet_tests::{Controller, Pki, agent_channel, valid_report};
use tonic::Code;
use tonic::transport::Channel;

const HOST: &str = "web11.example";

/// A controller with two reports from `HOST` stored, and the agent's channel.
async fn controller_with_reports(dir: &std::path::Path) -> (Controller, Channel, Vec<HostReport>, Pki) {
    let pki = Pki::new(&dir.join("ca"));
    let controller = Controller::start(&pki, &dir.join("data"), 0, false).await;
    let (cert, key) = pki.agent(HOST);
    let channel = agent_channel(&controller.agent_url(), &pki.ca_cert(), Some((&cert, &key))).await.unwrap();
    let sent: Vec<HostReport> = (1..=2).map(report).collect();
    for report in &sent {
        assert!(!report_bytes(&channel, report.encode_to_vec()).await.unwrap().duplicate);
    }
    (controller, channel, sent, pki)
}

/// A report whose string fields hold markers that tests can spoil in place.
fn report(seq: u64) -> HostReport {
    let mut report = valid_report(HOST, 7, seq);
    report.agent.as_mut().unwrap().hostname = "MARKhost".into();
    report.blocklist = vec![BlocklistEvidence {
        provider: "spamhaus".into(),
        zone: "zen.spamhaus.org".into(),
        code: "S3140".into(),
        ip: "203.0.113.20".into(),
        family: "ip".into(),
        count: 2,
        first_seen_ms: report.period_end_ms - 1000,
        last_seen_ms: report.period_end_ms,
        sample: "554 5.7.1 blocked MARKsample".into(),
        temporary: false,
        domain: String::new(),
    }];
    report
}

/// The encoding of `report` with the four bytes at `marker` replaced by
/// `bytes`: the same lengths, so the protobuf stays well framed.
fn spoiled(report: &HostReport, marker: &[u8; 8], bytes: &[u8; 4]) -> Vec<u8> {
    let mut encoded = report.encode_to_vec();
    let at = encoded.windows(marker.len()).position(|w| w == marker).expect("marker in the encoding");
    encoded[at..at + 4].copy_from_slice(bytes);
    encoded
}

/// What the admin API shows about `HOST`, without the fields that age.
async fn stored(controller: &Controller) -> serde_json::Value {
    let mut host: serde_json::Value =
        serde_json::from_str(&controller.cli(&["host", HOST, "--format", "json"]).await.unwrap()).unwrap();
    let map = host.as_object_mut().unwrap();
    map.remove("last_report_age_secs");
    map.remove("silent");
    host
}

/// The next valid report is acknowledged and stored: the controller still serves this agent.
async fn still_serves(controller: &Controller, channel: &Channel, seq: u64) {
    let ack = report_bytes(channel, report(seq).encode_to_vec()).await.unwrap();
    assert_eq!((ack.seq, ack.duplicate), (seq, false));
    let host = stored(controller).await;
    assert_eq!((host["last_seq"].as_u64(), host["reports_stored"].as_u64()), (Some(seq), Some(seq)));
}

#[tokio::test]
async fn broken_protobuf_is_refused_by_the_decoder() {
    let tmp = tempfile::tempdir().unwrap();
    let (controller, channel, _, _) = controller_with_reports(tmp.path()).await;
    let before = stored(&controller).await;
    let next = report(3);
    let not_utf8 = *b"\xff\xfe\xc3\x28";

    // (what, payload, the decoder's words that must appear in the message)
    let mut cases: Vec<(&str, Vec<u8>, &str)> = vec![
        ("invalid UTF-8 in agent.hostname", spoiled(&next, b"MARKhost", &not_utf8), "AgentInfo.hostname"),
        ("invalid UTF-8 in blocklist[0].sample", spoiled(&next, b"MARKsamp", &not_utf8), "BlocklistEvidence.sample"),
        // host_id is read before the certificate check: decoding comes first.
        (
            "invalid UTF-8 in host_id",
            {
                let mut r = next.clone();
                r.host_id = "MARKxxxx".into();
                spoiled(&r, b"MARKxxxx", &not_utf8)
            },
            "HostReport.host_id",
        ),
        ("a varint of eleven bytes", [&[0x18][..], &[0xff; 11]].concat(), "invalid varint"),
        ("a field length past the end", vec![0x52, 0xff, 0xff, 0xff, 0xff, 0x0f, 0x0a], "buffer underflow"),
        ("wire type 7", vec![0x0f, 0x00], "invalid wire type"),
        ("field number 0", vec![0x02, 0x00], "invalid tag"),
        // An unknown field of 100 000 nested groups: skipped with a depth limit, not by recursion.
        ("deeply nested groups", [0x9b, 0x06].repeat(100_000), "recursion limit"),
    ];
    let encoded = next.encode_to_vec();
    let inside = encoded.windows(8).position(|w| w == b"MARKsamp").unwrap() + 2;
    cases.push(("a report cut inside a string", encoded[..inside].to_vec(), "buffer underflow"));

    for (what, payload, words) in cases {
        let status = report_bytes(&channel, payload).await.expect_err(what);
        assert_eq!(status.code(), Code::Internal, "{what}: {}", status.message());
        assert!(status.message().contains("failed to decode Protobuf message"), "{what}: {}", status.message());
        assert!(status.message().contains(words), "{what}: {}", status.message());
    }
    assert_eq!(stored(&controller).await, before, "a refused payload changed the store");
    still_serves(&controller, &channel, 3).await;
    controller.stop().await;
}

#[tokio::test]
async fn random_and_truncated_payloads_never_store_or_stop_anything() {
    let tmp = tempfile::tempdir().unwrap();
    let (controller, channel, sent, _) = controller_with_reports(tmp.path()).await;
    let before = stored(&controller).await;

    // Every cut of a stored report. A cut at a field boundary is a valid, shorter
    // protobuf: it reaches validation and the resend check, and is refused there.
    let whole = sent[1].encode_to_vec();
    let mut payloads: Vec<Vec<u8>> = (0..whole.len()).map(|cut| whole[..cut].to_vec()).collect();
    // And random bytes, seeded so a failure can be replayed.
    let mut rng = fastrand::Rng::with_seed(11);
    payloads.extend((0..300).map(|_| {
        let len = rng.usize(1..2048);
        std::iter::repeat_with(|| rng.u8(..)).take(len).collect::<Vec<u8>>()
    }));

    for payload in payloads {
        let local = HostReport::decode(payload.as_slice());
        let status = report_bytes(&channel, payload.clone()).await.expect_err("a broken report was accepted");
        match local {
            Err(error) => {
                assert_eq!(status.code(), Code::Internal, "{payload:?}: {}", status.message());
                assert!(status.message().contains(&error.to_string()), "{payload:?}: {}", status.message());
            }
            // Decodes: the controller's own checks refuse it.
            Ok(_) => assert!(
                matches!(status.code(), Code::InvalidArgument | Code::PermissionDenied),
                "{payload:?}: {status:?}"
            ),
        }
    }
    assert_eq!(stored(&controller).await, before, "a refused payload changed the store");
    still_serves(&controller, &channel, 3).await;
    controller.stop().await;
}

#[tokio::test]
async fn lying_frames_are_refused_before_decoding() {
    let tmp = tempfile::tempdir().unwrap();
    let (controller, channel, _, _) = controller_with_reports(tmp.path()).await;
    let before = stored(&controller).await;
    let limit = u32::try_from(controller.config.limits.max_report_bytes).unwrap();
    let frame = |flag, declared, payload: &str| format!("{}{payload}", frame_header(flag, declared));

    // (what, request body, grpc-encoding, code, words in the message)
    let cases = [
        ("a frame longer than the body", frame(0, 64, "0123456789"), None, Code::Internal, "Unexpected EOF"),
        ("a header cut short", "\0\0\0".to_string(), None, Code::Internal, "Unexpected EOF"),
        ("no message at all", String::new(), None, Code::Internal, "Missing request message"),
        // Refused on the header, before the server reserves room for the body.
        ("a declared 2 GB message", frame(0, 0x7f7f_7f7f, "abc"), None, Code::OutOfRange, "too large"),
        ("one byte over the limit", frame(0, limit + 1, "abc"), None, Code::OutOfRange, "the limit is: 1048576"),
        ("compressed flag, no grpc-encoding", frame(1, 5, "hello"), None, Code::Internal, "compressed-flag"),
        ("compressed flag, identity", frame(1, 5, "hello"), Some("identity"), Code::Internal, "compressed-flag"),
        ("compression flag 2", frame(2, 5, "hello"), None, Code::Internal, "invalid compression flag"),
        ("gzip, not enabled", frame(1, 5, "hello"), Some("gzip"), Code::Unimplemented, "`gzip` which isn't supported"),
        // The rest is read as a second frame: "t" is no compression flag.
        ("a frame shorter than the body", frame(0, 2, "\x18\x01trailing"), None, Code::Internal, "flag: 116"),
    ];
    for (what, body, encoding, code, words) in cases {
        let status = report_frames(&channel, &body, encoding).await.expect_err(what);
        assert_eq!(status.code(), code, "{what}: {}", status.message());
        assert!(status.message().contains(words), "{what}: {}", status.message());
    }
    assert_eq!(stored(&controller).await, before, "a refused frame changed the store");
    still_serves(&controller, &channel, 3).await;
    controller.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reports_held_open_are_bounded_per_certificate() {
    let tmp = tempfile::tempdir().unwrap();
    let (controller, channel, sent, pki) = controller_with_reports(tmp.path()).await;
    let before = stored(&controller).await;
    // A report held open stays decoded until the server gives up on it (1 MiB
    // of empty `sources` decodes to 105 MB); small ones show the bound as well.
    // Five held: four take the host's slots, the fifth is refused.
    let mut held: Vec<_> = (0..5)
        .map(|_| {
            let (channel, payload) = (channel.clone(), sent[0].encode_to_vec());
            tokio::spawn(async move { report_held_open(&channel, payload).await })
        })
        .collect();
    let mut fifth = None;
    for _ in 0..500 {
        if let Some(done) = held.iter().position(|task| task.is_finished()) {
            fifth = Some(held.swap_remove(done).await.unwrap());
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    let status = fifth.expect("five reports held open were all taken").unwrap_err();
    assert_eq!(status.code(), Code::ResourceExhausted, "{}", status.message());
    assert!(status.message().contains("4 reports in flight"), "{}", status.message());
    assert!(status.metadata().get("grpc-retry-pushback-ms").is_some(), "no retry hint");
    // While four are held, even a resend of a stored report waits its turn.
    let resend = || report_bytes(&channel, sent[1].encode_to_vec());
    assert_eq!(resend().await.unwrap_err().code(), Code::ResourceExhausted);

    // Another host is served meanwhile.
    let (cert, key) = pki.agent("web12.example");
    let other = agent_channel(&controller.agent_url(), &pki.ca_cert(), Some((&cert, &key))).await.unwrap();
    let ack = report_bytes(&other, valid_report("web12.example", 1, 1).encode_to_vec()).await.unwrap();
    assert!(!ack.duplicate);

    // The held reports end (their streams reset); the host's slots come back.
    held.iter().for_each(|task| task.abort());
    let mut served = false;
    for _ in 0..200 {
        if resend().await.is_ok() {
            served = true;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    assert!(served, "the host's slots never came back");
    assert_eq!(stored(&controller).await, before, "a held report changed the store");
    still_serves(&controller, &channel, 3).await;
    controller.stop().await;
}
