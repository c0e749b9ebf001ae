#![allow(clippy::unwrap_used)]

use std::net::Ipv4Addr;

use hickory_resolver::proto::op::{Message, OpCode, ResponseCode};
use hickory_resolver::proto::rr::rdata::{A, CNAME, TXT};
use hickory_resolver::proto::rr::{Name, RData, Record};

use super::*;

fn name(text: &str) -> Name {
    Name::from_ascii(text).unwrap()
}

const Q: &str = "1.2.0.192.bl.test.";

fn answer(code: ResponseCode, records: Vec<(&str, RData)>) -> Message {
    let mut m = Message::response(7, OpCode::Query);
    m.metadata.response_code = code;
    for (owner, data) in records {
        m.add_answer(Record::from_rdata(name(owner), 60, data));
    }
    m
}

fn a(last: u8) -> RData {
    RData::A(A(Ipv4Addr::new(127, 0, 0, last)))
}

#[test]
fn a_records_of_the_name_are_read_whatever_their_case() {
    let m = answer(ResponseCode::NoError, vec![(Q, a(2)), ("1.2.0.192.BL.test.", a(3))]);
    assert_eq!(a_records(&name(Q), &m).unwrap(), [Ipv4Addr::new(127, 0, 0, 2), Ipv4Addr::new(127, 0, 0, 3)]);
    assert!(a_records(&name(Q), &answer(ResponseCode::NXDomain, vec![])).unwrap().is_empty());
    assert!(a_records(&name(Q), &answer(ResponseCode::NoError, vec![])).unwrap().is_empty());
}

#[test]
fn what_a_blocklist_never_answers_is_an_error() {
    let q = name(Q);
    let other = answer(ResponseCode::NoError, vec![("2.0.0.127.bl.test.", a(2))]);
    assert!(a_records(&q, &other).unwrap_err().contains("another name"));
    let mixed = answer(ResponseCode::NoError, vec![(Q, a(2)), ("evil.example.", a(2))]);
    assert!(a_records(&q, &mixed).unwrap_err().contains("evil.example"));
    let txt = answer(ResponseCode::NoError, vec![(Q, RData::TXT(TXT::new(vec!["x".into()])))]);
    assert!(a_records(&q, &txt).unwrap_err().contains("no A record, only TXT"));
    let nx = answer(ResponseCode::NXDomain, vec![(Q, a(2))]);
    assert!(a_records(&q, &nx).unwrap_err().contains("contradictory"));
    let many = answer(ResponseCode::NoError, (0..40).map(|_| (Q, a(2))).collect());
    assert!(a_records(&q, &many).unwrap_err().contains("40 A records"));
    let servfail = answer(ResponseCode::ServFail, vec![]);
    assert!(a_records(&q, &servfail).unwrap_err().contains("SERVFAIL"));
}

#[test]
fn a_cname_chain_is_followed_and_a_loop_ends() {
    let q = name(Q);
    let target = "2.0.0.127.mirror.test.";
    let chained = answer(ResponseCode::NoError, vec![(Q, RData::CNAME(CNAME(name(target)))), (target, a(4))]);
    assert_eq!(a_records(&q, &chained).unwrap(), [Ipv4Addr::new(127, 0, 0, 4)]);
    let looped = answer(
        ResponseCode::NoError,
        vec![(Q, RData::CNAME(CNAME(name(target)))), (target, RData::CNAME(CNAME(name(Q))))],
    );
    assert!(a_records(&q, &looped).unwrap().is_empty(), "a CNAME loop without data is no listing");
}

#[test]
fn txt_is_made_printable_and_bounded() {
    let q = name(Q);
    let hostile = TXT::from_bytes(vec![b"listed \x1b[31mred\x1b[0m\nsee ", b"https://bl.test/\xff"]);
    let m = answer(ResponseCode::NoError, vec![(Q, RData::TXT(hostile))]);
    assert_eq!(txt_text(&q, &m).unwrap(), "listed  [31mred [0m see https://bl.test/\u{fffd}");
    let long: Vec<String> = (0..250).map(|_| "é".repeat(127)).collect();
    let m = answer(ResponseCode::NoError, vec![(Q, RData::TXT(TXT::new(long)))]);
    let text = txt_text(&q, &m).unwrap();
    assert!(text.len() <= MAX_TXT_BYTES + '…'.len_utf8() && text.ends_with('…'), "{}", text.len());
    let elsewhere = answer(ResponseCode::NoError, vec![("other.test.", RData::TXT(TXT::new(vec!["x".into()])))]);
    assert_eq!(txt_text(&q, &elsewhere), None);
}

#[test]
fn printable_cuts_on_a_character_boundary() {
    for max in 0..12 {
        let cut = printable("ab€€€\u{7}cd", max);
        assert!(cut.len() <= max + '…'.len_utf8(), "{max}: {cut:?}");
    }
    assert_eq!(printable("  \u{1b}ok\r\n", 10), "ok");
}

/// Random mutations of a real answer: whatever decodes is read without a panic.
#[test]
fn mutated_answers_never_panic() {
    let q = name(Q);
    let m = answer(
        ResponseCode::NoError,
        vec![
            (Q, RData::CNAME(CNAME(name("x.bl.test.")))),
            ("x.bl.test.", a(2)),
            (Q, RData::TXT(TXT::new(vec!["r".into()]))),
        ],
    );
    let bytes = m.to_vec().unwrap();
    let mut seed = 0x9e37_79b9_7f4a_7c15_u64;
    let mut next = move || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    };
    let mut decoded = 0;
    for _ in 0..20_000 {
        let mut b = bytes.clone();
        for _ in 0..1 + next() % 4 {
            let at = (next() % b.len() as u64) as usize;
            match next() % 3 {
                0 => b[at] = next() as u8,
                1 => b.truncate(at.max(12)),
                _ => b.insert(at, next() as u8),
            }
        }
        if let Ok(message) = Message::from_vec(&b) {
            decoded += 1;
            let _ = a_records(&q, &message);
            let _ = txt_text(&q, &message);
        }
    }
    assert!(decoded > 1000, "only {decoded} mutations decoded: the test exercises too little");
}
