//! A DNS server on 127.0.0.1 (UDP and TCP, same port) that answers badly on
//! purpose: one zone per way a zone server can go wrong, and one zone that
//! answers well, so a test can see the good zone still checked.
//!
//! Answers are written byte by byte, not with a DNS library: a library would
//! refuse to build most of them. The queries it reads are the resolver's own
//! (one question, no compression); anything else is ignored.

use std::net::{Ipv4Addr, SocketAddr};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream, UdpSocket};
use tokio::task::JoinHandle;

/// The hostile zones, each `<label>.test`, with what it answers.
pub const HOSTILE_ZONES: &[(&str, &str)] = &[
    ("garbage", "random bytes, random id"),
    ("garbage-id", "random bytes after the query's id"),
    ("truncated", "a valid answer cut short, TC not set"),
    ("wrong-id", "a valid answer with another id"),
    ("bogus-counts", "a header announcing 40 answers, then nothing"),
    ("big-txt", "the good zone's listings, with a 63 KiB TXT of 250 strings (TC over UDP, whole over TCP)"),
    ("bad-rdlen", "an A record whose rdata is 3 bytes long"),
    ("ptr-loop", "an answer whose owner name is a compression pointer to itself"),
    ("tc-garbage", "TC=1 over UDP, garbage over TCP"),
    ("other-name", "NOERROR with an A record for another name"),
    ("other-type", "NOERROR with a TXT record in answer to an A query"),
    ("many-a", "NOERROR with 300 A records (TC over UDP, whole over TCP)"),
    ("public-a", "A 203.0.113.1, outside 127.0.0.0/8"),
    ("servfail", "SERVFAIL"),
    ("refused", "REFUSED"),
    ("silent", "nothing at all"),
];

/// The well-behaved zone: lists 127.0.0.2 (its test point) and [`GOOD_LISTED`]
/// with A 127.0.0.2 and a TXT; everything else is NXDOMAIN.
pub const GOOD_ZONE: &str = "good";
pub const GOOD_LISTED: Ipv4Addr = Ipv4Addr::new(203, 0, 113, 66);

/// A running hostile server; dropped, it stops.
#[derive(Debug)]
pub struct HostileDns {
    addr: SocketAddr,
    tasks: Vec<JoinHandle<()>>,
}

impl Drop for HostileDns {
    fn drop(&mut self) {
        self.tasks.iter().for_each(JoinHandle::abort);
    }
}

impl HostileDns {
    /// Binds UDP and TCP on one free port of 127.0.0.1.
    pub async fn start() -> HostileDns {
        for _ in 0..20 {
            let udp = UdpSocket::bind("127.0.0.1:0").await.unwrap();
            let addr = udp.local_addr().unwrap();
            let Ok(tcp) = TcpListener::bind(addr).await else { continue };
            let tasks = vec![tokio::spawn(serve_udp(udp)), tokio::spawn(serve_tcp(tcp))];
            return HostileDns { addr, tasks };
        }
        panic!("no port free for both UDP and TCP on 127.0.0.1");
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// A catalog file (schema 1) with every hostile zone and the good one,
    /// ids equal to the labels, budgets out of the way.
    pub fn catalog_toml() -> String {
        let mut text = String::from("schema = 1\nas_of = \"test\"\n");
        for label in HOSTILE_ZONES.iter().map(|(l, _)| *l).chain([GOOD_ZONE]) {
            text.push_str(&format!(
                "\n[[zone]]\nid = \"{label}\"\nname = \"Test zone {label}\"\nzone = \"{label}.test\"\n\
                 kind = \"ip\"\nipv4 = true\nipv6 = true\ntxt = true\nenabled = true\n\
                 budget = {{ per_second = 1000, per_day = 1000000 }}\n\
                 codes = [{{ code = \"127.0.0.2\", meaning = \"test listing\" }}]\n\
                 [zone.delist]\nkind = \"auto_expire\"\nexpiry = \"24h\"\n"
            ));
        }
        text
    }
}

/// What the resolver asked.
struct Query {
    id: u16,
    /// The question section as received (name, type, class).
    question: Vec<u8>,
    /// The name, lowercase, without trailing dot.
    name: String,
    qtype: u16,
}

const A: u16 = 1;
const TXT: u16 = 16;

fn parse_query(buf: &[u8]) -> Option<Query> {
    let id = u16::from_be_bytes([*buf.first()?, *buf.get(1)?]);
    let mut at = 12;
    let mut labels = Vec::new();
    loop {
        let len = usize::from(*buf.get(at)?);
        at += 1;
        if len == 0 {
            break;
        }
        labels.push(String::from_utf8_lossy(buf.get(at..at + len)?).to_ascii_lowercase());
        at += len;
    }
    let qtype = u16::from_be_bytes([*buf.get(at)?, *buf.get(at + 1)?]);
    let question = buf.get(12..at + 4)?.to_vec();
    Some(Query { id, question, name: labels.join("."), qtype })
}

/// The zone label of `name` ("good" for "2.0.0.127.good.test").
fn zone_label(name: &str) -> &str {
    let mut labels = name.rsplit('.');
    match (labels.next(), labels.next()) {
        (Some("test"), Some(label)) => label,
        _ => "",
    }
}

const QR_AA: u16 = 0x8400;
const TC: u16 = 0x0200;
const RD: u16 = 0x0100;
const NXDOMAIN: u16 = 3;

/// A header and the echoed question; `answers` records follow.
fn message(q: &Query, flags: u16, answers: u16) -> Vec<u8> {
    let mut m = Vec::with_capacity(512);
    m.extend_from_slice(&q.id.to_be_bytes());
    m.extend_from_slice(&(QR_AA | RD | flags).to_be_bytes());
    for count in [1, answers, 0, 0] {
        m.extend_from_slice(&count.to_be_bytes());
    }
    m.extend_from_slice(&q.question);
    m
}

/// One record: owner name (already encoded), type, class IN, TTL 60, rdata.
fn record(m: &mut Vec<u8>, owner: &[u8], rtype: u16, rdata: &[u8]) {
    m.extend_from_slice(owner);
    m.extend_from_slice(&rtype.to_be_bytes());
    m.extend_from_slice(&[0, 1, 0, 0, 0, 60]);
    m.extend_from_slice(&u16::try_from(rdata.len()).unwrap().to_be_bytes());
    m.extend_from_slice(rdata);
}

/// A pointer to the question's name.
const QNAME: [u8; 2] = [0xc0, 12];

fn encode_name(name: &str) -> Vec<u8> {
    let mut out = Vec::with_capacity(name.len() + 2);
    for label in name.split('.') {
        out.push(u8::try_from(label.len()).unwrap());
        out.extend_from_slice(label.as_bytes());
    }
    out.push(0);
    out
}

fn garbage(len: usize) -> Vec<u8> {
    std::iter::repeat_with(|| fastrand::u8(..)).take(len).collect()
}

/// A TXT rdata of 250 strings of 255 bytes (about 63 KiB).
fn big_txt() -> Vec<u8> {
    let mut rdata = Vec::with_capacity(250 * 256);
    for i in 0..250 {
        rdata.push(255);
        rdata.extend(std::iter::repeat_n(b'a' + (i % 26) as u8, 255));
    }
    rdata
}

/// The answer to `q` over UDP (`tcp` false) or TCP, or None for silence.
fn answer(q: &Query, tcp: bool) -> Option<Vec<u8>> {
    let listed = [127, 0, 0, 2];
    let label = zone_label(&q.name);
    let m = match label {
        GOOD_ZONE | "big-txt" => {
            let hits = [Ipv4Addr::from(listed), GOOD_LISTED].iter().any(|a| {
                let [x, y, z, w] = a.octets();
                q.name == format!("{w}.{z}.{y}.{x}.{label}.test")
            });
            if !hits {
                return Some(message(q, NXDOMAIN, 0));
            }
            match q.qtype {
                A => {
                    let mut m = message(q, 0, 1);
                    record(&mut m, &QNAME, A, &listed);
                    m
                }
                TXT if label == GOOD_ZONE => {
                    let mut m = message(q, 0, 1);
                    record(&mut m, &QNAME, TXT, b"\x0flisted for test");
                    m
                }
                TXT if !tcp => message(q, TC, 0),
                TXT => {
                    let mut m = message(q, 0, 1);
                    record(&mut m, &QNAME, TXT, &big_txt());
                    m
                }
                _ => message(q, 0, 0),
            }
        }
        "garbage" => garbage(64 + fastrand::usize(..400)),
        "garbage-id" => {
            let mut m = q.id.to_be_bytes().to_vec();
            m.extend(garbage(10 + fastrand::usize(..400)));
            m
        }
        "truncated" => {
            let mut m = message(q, 0, 1);
            record(&mut m, &QNAME, A, &listed);
            m.truncate(m.len() - 3);
            m
        }
        "wrong-id" => {
            let mut m = message(q, 0, 1);
            record(&mut m, &QNAME, A, &listed);
            m[..2].copy_from_slice(&q.id.wrapping_add(1).to_be_bytes());
            m
        }
        "bogus-counts" => message(q, 0, 40),
        "bad-rdlen" => {
            let mut m = message(q, 0, 1);
            record(&mut m, &QNAME, A, &listed[..3]);
            m
        }
        "ptr-loop" => {
            let mut m = message(q, 0, 1);
            let here = u8::try_from(m.len()).unwrap_or(12);
            record(&mut m, &[0xc0, here], A, &listed);
            m
        }
        "tc-garbage" if !tcp => message(q, TC, 0),
        "tc-garbage" => {
            let mut m = q.id.to_be_bytes().to_vec();
            m.extend(garbage(200));
            m
        }
        "other-name" => {
            let mut m = message(q, 0, 1);
            record(&mut m, &encode_name("2.0.0.127.good.test"), A, &listed);
            m
        }
        "other-type" => {
            let mut m = message(q, 0, 1);
            record(&mut m, &QNAME, TXT, b"\x06listed");
            m
        }
        "many-a" if !tcp => message(q, TC, 0),
        "many-a" => {
            let mut m = message(q, 0, 300);
            (0..300).for_each(|_| record(&mut m, &QNAME, A, &listed));
            m
        }
        "public-a" => {
            let mut m = message(q, 0, 1);
            record(&mut m, &QNAME, A, &[203, 0, 113, 1]);
            m
        }
        "servfail" => message(q, 2, 0),
        "refused" => message(q, 5, 0),
        _ => return None,
    };
    Some(m)
}

async fn serve_udp(socket: UdpSocket) {
    let mut buf = vec![0u8; 4096];
    loop {
        let Ok((len, peer)) = socket.recv_from(&mut buf).await else { continue };
        let Some(reply) = parse_query(&buf[..len]).and_then(|q| answer(&q, false)) else { continue };
        let _ = socket.send_to(&reply, peer).await;
    }
}

async fn serve_tcp(listener: TcpListener) {
    loop {
        let Ok((stream, _)) = listener.accept().await else { continue };
        tokio::spawn(serve_connection(stream));
    }
}

async fn serve_connection(mut stream: TcpStream) {
    loop {
        let Ok(len) = stream.read_u16().await else { return };
        let mut buf = vec![0u8; usize::from(len)];
        if stream.read_exact(&mut buf).await.is_err() {
            return;
        }
        let Some(reply) = parse_query(&buf).and_then(|q| answer(&q, true)) else { continue };
        let Ok(len) = u16::try_from(reply.len()) else { return };
        let mut framed = len.to_be_bytes().to_vec();
        framed.extend_from_slice(&reply);
        if stream.write_all(&framed).await.is_err() {
            return;
        }
    }
}
