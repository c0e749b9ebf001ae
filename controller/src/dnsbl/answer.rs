//! What a DNS answer says, decided here rather than by the resolver library.
//!
//! A resolver library is built to find addresses, so it drops what it does not
//! expect: an A record for another name, or a TXT in answer to an A query,
//! becomes "no records" — which a blocklist check would read as clean. These
//! functions see the whole message and are total: every message, however
//! hostile, gives codes, clean, or an error that says what was wrong. Nothing
//! here does I/O.

use std::net::Ipv4Addr;

use hickory_resolver::net::{DnsError, NetError};
use hickory_resolver::proto::op::{Message, ResponseCode};
use hickory_resolver::proto::rr::{Name, RData, RecordType};

use crate::text::printable;

/// More A records than any blocklist answers with (a bitmask zone answers
/// one; the widest multi-list zones a handful). Past this the answer is
/// refused rather than stored.
pub const MAX_A_RECORDS: usize = 32;

/// A TXT explanation is a sentence and a URL; longer ones are cut here.
pub const MAX_TXT_BYTES: usize = 512;

/// Error texts are cut here (they may quote what a server sent).
const MAX_ERROR_BYTES: usize = 300;

/// CNAME hops followed inside one answer.
const MAX_CHAIN: usize = 8;

/// The owner names that answer `qname`: itself and the CNAME chain from it.
fn chain(qname: &Name, message: &Message) -> Vec<Name> {
    let mut names = vec![qname.clone()];
    for _ in 0..MAX_CHAIN {
        let next = message.answers.iter().find_map(|r| match &r.data {
            RData::CNAME(target) if names.last().is_some_and(|n| *n == r.name) => Some(target.0.clone()),
            _ => None,
        });
        match next {
            Some(target) if !names.contains(&target) => names.push(target),
            _ => break,
        }
    }
    names
}

/// The A records that answer `qname`: empty when the name is not listed
/// (NXDOMAIN, or NOERROR without data); an error for anything a blocklist
/// does not answer.
pub fn a_records(qname: &Name, message: &Message) -> Result<Vec<Ipv4Addr>, String> {
    let code = message.metadata.response_code;
    if !matches!(code, ResponseCode::NoError | ResponseCode::NXDomain) {
        return Err(rcode_text(code));
    }
    let names = chain(qname, message);
    let mut codes = Vec::new();
    let mut others = Vec::new();
    for record in &message.answers {
        if !names.contains(&record.name) {
            return Err(cut(&format!(
                "the answer holds a record for another name ({} {}): not an answer to {qname}",
                record.name,
                record.record_type()
            )));
        }
        match &record.data {
            RData::A(a) => codes.push(a.0),
            RData::CNAME(_) => {}
            other => others.push(other.record_type()),
        }
    }
    if code == ResponseCode::NXDomain && !codes.is_empty() {
        return Err("the answer says NXDOMAIN and holds A records: contradictory".into());
    }
    if codes.is_empty() && !others.is_empty() {
        let types: Vec<String> = others.iter().map(RecordType::to_string).collect();
        return Err(format!("the answer to an A query holds no A record, only {}", types.join(", ")));
    }
    if codes.len() > MAX_A_RECORDS {
        return Err(format!(
            "the answer holds {} A records; a blocklist answers with a few (at most {MAX_A_RECORDS} are read)",
            codes.len()
        ));
    }
    Ok(codes)
}

/// The TXT at `qname` (each record's strings joined, records joined by a
/// space), made printable and cut to [`MAX_TXT_BYTES`]; None when absent.
pub fn txt_text(qname: &Name, message: &Message) -> Option<String> {
    if message.metadata.response_code != ResponseCode::NoError {
        return None;
    }
    let names = chain(qname, message);
    let mut text = String::new();
    let records = message.answers.iter().filter(|r| names.contains(&r.name));
    for txt in records.filter_map(|r| match &r.data {
        RData::TXT(txt) => Some(txt),
        _ => None,
    }) {
        if !text.is_empty() {
            text.push(' ');
        }
        for part in txt.txt_data.iter() {
            text.push_str(&String::from_utf8_lossy(part));
            if text.len() > MAX_TXT_BYTES {
                break;
            }
        }
        if text.len() > MAX_TXT_BYTES {
            break;
        }
    }
    let text = printable(&text, MAX_TXT_BYTES);
    (!text.is_empty()).then_some(text)
}

fn cut(text: &str) -> String {
    printable(text, MAX_ERROR_BYTES)
}

fn rcode_text(code: ResponseCode) -> String {
    match code {
        ResponseCode::ServFail => "SERVFAIL: the resolver could not get an answer from the zone's servers".into(),
        ResponseCode::Refused => "REFUSED: the resolver or the zone refused the query".into(),
        code => format!("DNS error {code}"),
    }
}

/// A lookup failure in words; `timeout` and `attempts` describe the settings.
pub fn describe(error: &NetError, timeout: std::time::Duration, attempts: usize) -> String {
    let text = match error {
        NetError::Timeout => format!(
            "timed out: no answer within {} ({attempts} attempt{}); the server is silent or unreachable, or its \
             replies are not answers to the query (garbage, a wrong id, another question)",
            humantime::format_duration(timeout),
            if attempts == 1 { "" } else { "s" }
        ),
        NetError::Dns(DnsError::ResponseCode(code)) => rcode_text(*code),
        NetError::Proto(e) => format!("the answer is not a valid DNS message: {e}"),
        NetError::Truncated => "the answer is truncated even over TCP".into(),
        NetError::Io(e) => format!("cannot reach the nameserver: {e}"),
        other => other.to_string(),
    };
    cut(&text)
}

#[cfg(test)]
mod tests;
