#![allow(clippy::unwrap_used)]

use std::time::Duration;

use super::*;

fn envelope(dir: &Path, name: &str, sender: &str, age: Duration, now: SystemTime) {
    let path = dir.join(name);
    let text =
        format!("DomainName=foo.example\r\nRecipients=[SMTP:bob@foo.example]\r\nSender={sender}\r\nRetries=3\r\n");
    std::fs::write(&path, text).unwrap();
    std::fs::File::options().write(true).open(&path).unwrap().set_modified(now - age).unwrap();
}

#[test]
fn queue_folders_are_counted() {
    let root = tempfile::tempdir().unwrap();
    let collector = MailEnableCollector::new(root.path().to_path_buf());
    let now = SystemTime::now();
    let err = collector.read_queue(now).unwrap_err().to_string();
    assert!(err.contains("Outgoing") && err.contains("queue.mailenable_root"), "{err}");

    let outgoing = collector.outgoing();
    std::fs::create_dir_all(outgoing.join("Messages")).unwrap();
    std::fs::write(outgoing.join("Messages").join("body.MAI"), "not counted").unwrap();
    let stats = collector.read_queue(now).unwrap();
    assert_eq!((stats.total, stats.oldest_age_secs), (0, 0));

    envelope(&outgoing, "A1.MAI", "[SMTP:alice@foo.example]", Duration::from_secs(60), now);
    envelope(&outgoing, "A2.MAI", "[SMTP:alice@foo.example]", Duration::from_secs(3600), now);
    envelope(&outgoing, "A3.MAI", "[SMTP:]", Duration::from_secs(10), now);
    std::fs::create_dir_all(outgoing.join("Retry")).unwrap();
    envelope(&outgoing.join("Retry"), "R1.MAI", "[SMTP:carol@foo.example]", Duration::from_secs(7200), now);

    let stats = collector.read_queue(now).unwrap();
    let counts: Vec<(&str, u64)> = stats.counts.iter().map(|c| (c.queue.as_str(), c.messages)).collect();
    assert_eq!(counts, [("outgoing", 3), ("retry", 1)]);
    assert_eq!(stats.total, 4);
    assert_eq!(stats.oldest_age_secs, 7200);
    let senders: Vec<(&str, u64)> = stats.top_senders.iter().map(|n| (n.name.as_str(), n.count)).collect();
    assert_eq!(senders, [("alice@foo.example", 2), ("<>", 1), ("carol@foo.example", 1)]);
}
