//! Explicit value and key encodings.
//!
//! A value is one format byte followed by a protobuf message. The format byte
//! lets a later schema change records one at a time; protobuf keeps fields
//! readable when new ones are added.

use prost::Message;

use super::StoreError;

/// Format byte of a protobuf-encoded record.
const FORMAT_PROTO_V1: u8 = 1;

pub(crate) fn encode<M: Message>(message: &M) -> Vec<u8> {
    let mut buf = Vec::with_capacity(1 + message.encoded_len());
    buf.push(FORMAT_PROTO_V1);
    message.encode(&mut buf).expect("a Vec grows as needed");
    buf
}

pub(crate) fn decode<M: Message + Default>(key: &[u8], raw: &[u8]) -> Result<M, StoreError> {
    let corrupt = |reason: String| StoreError::Corrupt { key: printable_key(key), reason };
    match raw.split_first() {
        Some((&FORMAT_PROTO_V1, body)) => M::decode(body).map_err(|e| corrupt(e.to_string())),
        Some((format, _)) => Err(corrupt(format!("unknown record format {format}"))),
        None => Err(corrupt("empty record".into())),
    }
}

/// Key of one report: host id, 0x00, epoch, seq (both big-endian).
pub(crate) fn report_key(host_id: &str, epoch: u64, seq: u64) -> Vec<u8> {
    let mut key = report_prefix(host_id);
    key.extend_from_slice(&epoch.to_be_bytes());
    key.extend_from_slice(&seq.to_be_bytes());
    key
}

/// Prefix of all of one host's reports. The 0x00 separator keeps "web1"
/// from matching "web10" (host ids never contain 0x00).
pub(crate) fn report_prefix(host_id: &str) -> Vec<u8> {
    let mut key = Vec::with_capacity(host_id.len() + 17);
    key.extend_from_slice(host_id.as_bytes());
    key.push(0);
    key
}

/// A key as text for error messages.
pub(crate) fn printable_key(key: &[u8]) -> String {
    key.iter().map(|&b| if b.is_ascii_graphic() { (b as char).to_string() } else { format!("\\x{b:02x}") }).collect()
}
