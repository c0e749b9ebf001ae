//! MailEnable (Plesk for Windows) SMTP logs.
//!
//! The SMTP-Activity log (`SMTP-Activity-YYMMDD.log`) is tab-separated, one
//! SMTP command per row (MailEnable KB ME020170):
//! `MM/DD/YY HH:MM:SS  SMTP-IN|SMTP-OU  message-file  socket  remote-ip
//! command  arguments  response  bytes-sent  bytes-received  mailbox`,
//! where the last column is the authenticated mailbox (KB ME020339: the column
//! to read when a mailbox is abused). The W3C log replicates it with a
//! `#Fields:` header naming the columns; the [`Layout`] built from that header
//! maps W3C names onto the same roles, so both feed the same rules:
//!
//! - SMTP-IN `AUTH` 235 → `SmtpAuth`, 5xx → `AuthFailure` (login in the mailbox column);
//! - SMTP-IN `MAIL` 2xx → `Client` (with the mailbox as SASL user) and `Queued`;
//! - SMTP-OU any command answered 4xx/5xx → `Delivery` Deferred/Bounced with the
//!   remote reply (recipient set on `RCPT` rows, empty otherwise: a 5xx
//!   greeting refuses every recipient);
//! - SMTP-OU end of `DATA` answered 2xx → `Delivery` Sent (recipients are on
//!   the earlier `RCPT` rows of the same message file).
//!
//! MailEnable writes local time; the caller's UTC offset is applied.

use super::Outcome;
use super::event::{DeliveryStatus, Event};
use super::line::LogLine;
use super::time::{civil_ms, parse_date, parse_time_of_day};
use super::util::{enhanced_code, parse_ip, reply_code};

/// What a column holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Column {
    /// `MM/DD/YY HH:MM:SS` in one column (activity log).
    DateTime,
    /// W3C `date`.
    Date,
    /// W3C `time`.
    Time,
    /// `SMTP-IN` / `SMTP-OU`.
    Kind,
    /// The message file name, e.g. `FE7A…8F.MAI`.
    MessageId,
    /// Remote IP.
    RemoteIp,
    /// SMTP command (`MAIL`, `RCPT`, `AUTH`, `DATA`, `CONN`…).
    Command,
    /// The command's arguments (`FROM:<a@b> SIZE=1000`).
    Arguments,
    /// The reply to the command.
    Response,
    /// The authenticated mailbox (or the login tried on `AUTH`).
    Mailbox,
    /// Anything else.
    Other,
}

/// The column order of a MailEnable log file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Layout {
    columns: Vec<Column>,
    /// W3C files separate with spaces and write spaces inside values as `+`.
    w3c: bool,
}

impl Layout {
    /// The SMTP-Activity log's fixed order.
    pub fn activity() -> Self {
        use Column::*;
        let columns =
            vec![DateTime, Kind, MessageId, Other, RemoteIp, Command, Arguments, Response, Other, Other, Mailbox];
        Layout { columns, w3c: false }
    }

    /// Builds a layout from a `#Fields: date time c-ip …` header line.
    pub fn from_fields_header(line: &str) -> Option<Self> {
        let names = line.strip_prefix("#Fields:")?;
        let columns: Vec<Column> = names
            .split_whitespace()
            .map(|name| match name.to_ascii_lowercase().as_str() {
                "date" => Column::Date,
                "time" => Column::Time,
                "datetime" | "date-time" => Column::DateTime,
                "agent" | "x-type" | "x-transaction-type" | "s-type" => Column::Kind,
                "x-message-id" | "x-messageid" | "message-id" | "x-msgid" => Column::MessageId,
                "c-ip" => Column::RemoteIp,
                "cs-method" => Column::Command,
                "cs-uristem" | "cs-uri-stem" => Column::Arguments,
                "cs-uriquery" | "cs-uri-query" | "sc-status" | "sc-response" => Column::Response,
                "cs-username" => Column::Mailbox,
                _ => Column::Other,
            })
            .collect();
        if columns.is_empty() {
            return None;
        }
        Some(Layout { columns, w3c: true })
    }

    fn index(&self, column: Column) -> Option<usize> {
        self.columns.iter().position(|&c| c == column)
    }
}

/// A MailEnable row as a [`LogLine`] (activity layout, UTC).
pub fn parse(line: &LogLine, out: &mut Vec<Event>) -> Outcome {
    parse_row(line.message, &Layout::activity(), 0, out)
}

/// Whether `line` looks like an SMTP-Activity row (so the dispatcher can tell
/// it from syslog without a header).
pub fn looks_like_activity_row(line: &str) -> bool {
    let b = line.as_bytes();
    b.len() > 27 && b[2] == b'/' && b[5] == b'/' && b[17] == b'\t' && b[18..].starts_with(b"SMTP-")
}

/// Parses one data row under `layout`.
pub fn parse_row(row: &str, layout: &Layout, utc_offset_s: i32, out: &mut Vec<Event>) -> Outcome {
    let row = row.trim_end_matches(['\r', '\n']);
    let cells: Vec<&str> =
        if layout.w3c && !row.contains('\t') { row.split_whitespace().collect() } else { row.split('\t').collect() };
    let cell = |c: Column| -> String {
        let raw = layout.index(c).and_then(|i| cells.get(i)).copied().unwrap_or("").trim();
        if layout.w3c { if raw == "-" { String::new() } else { raw.replace('+', " ") } } else { raw.to_string() }
    };
    let Some(ts_ms) = timestamp(&cell(Column::DateTime), &cell(Column::Date), &cell(Column::Time), utc_offset_s) else {
        return Outcome::Unknown;
    };
    let ts_ms = Some(ts_ms);
    let kind = cell(Column::Kind);
    let command = cell(Column::Command).to_ascii_uppercase();
    let response = cell(Column::Response);
    let code = reply_code(&response);
    let client_ip = parse_ip(&cell(Column::RemoteIp));
    let queue_id = cell(Column::MessageId);
    let mailbox = cell(Column::Mailbox);
    let args = cell(Column::Arguments);
    match kind.as_str() {
        "SMTP-IN" => match (command.as_str(), code) {
            ("AUTH", Some(235)) if !mailbox.is_empty() => {
                out.push(Event::SmtpAuth { ts_ms, user: mailbox, client_ip });
                Outcome::Parsed
            }
            ("AUTH", Some(500..=599)) => {
                let user = (!mailbox.is_empty()).then_some(mailbox);
                out.push(Event::AuthFailure { ts_ms, user, client_ip });
                Outcome::Parsed
            }
            ("MAIL", Some(200..=299)) => {
                let sasl_user = (!mailbox.is_empty()).then_some(mailbox);
                out.push(Event::Client {
                    ts_ms,
                    queue_id: queue_id.clone(),
                    client_host: String::new(),
                    client_ip,
                    sasl_user,
                });
                let size = args.split_once("SIZE=").and_then(|(_, s)| s.split_whitespace().next()?.parse().ok());
                out.push(Event::Queued { ts_ms, queue_id, from: address(&args).to_string(), size, nrcpt: None });
                Outcome::Parsed
            }
            _ => Outcome::Ignored,
        },
        // The activity log cuts the kind to 7 characters; accept it whole too.
        "SMTP-OU" | "SMTP-OUT" => {
            let relay = cell(Column::RemoteIp);
            let status = match code {
                Some(400..=499) => DeliveryStatus::Deferred,
                Some(500..=599) => DeliveryStatus::Bounced,
                Some(200..=299) if matches!(command.as_str(), "DATA" | "DATE" | ".") || args == "." => {
                    DeliveryStatus::Sent
                }
                _ => return Outcome::Ignored,
            };
            let to = if command == "RCPT" { address(&args).to_string() } else { String::new() };
            let dsn = response.get(4..).and_then(enhanced_code).map(str::to_string);
            out.push(Event::Delivery { ts_ms, queue_id, to, relay, dsn, status, reply: response });
            Outcome::Parsed
        }
        _ => Outcome::Unknown,
    }
}

/// The address inside `<…>` of `FROM:<a@b> SIZE=1` / `RCPT TO:<c@d>`.
fn address(args: &str) -> &str {
    match (args.find('<'), args.find('>')) {
        (Some(open), Some(close)) if open < close => &args[open + 1..close],
        _ => "",
    }
}

fn timestamp(datetime: &str, date: &str, time: &str, utc_offset_s: i32) -> Option<i64> {
    let (date, time) = if datetime.is_empty() { (date, time) } else { datetime.split_once(' ')? };
    let (year, month, day) = parse_date(date)?;
    let (tod, used) = parse_time_of_day(time.as_bytes())?;
    if used != time.len() {
        return None;
    }
    Some(civil_ms(year, month, day, tod)? - i64::from(utc_offset_s) * 1000)
}
