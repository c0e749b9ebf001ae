//! From a [`Decision`] (which rows spoke) to the full verdict on one reply,
//! and a [`Trace`] of where each part of it came from, so that the cache
//! knows which parts another reply with the same wording can reuse.

use std::net::IpAddr;

use super::reply::{ReplyCodes, first_named_ip};
use super::table::Table;
use super::{Classification, Family};

/// The word-dependent part of a verdict (see [`Table::decide`]).
#[derive(Debug, Clone, Default)]
pub(super) struct Decision {
    /// The family of the first matching row that has one.
    pub(super) family: Option<Family>,
    /// The deciding row's `temporary`, for replies without a code.
    pub(super) temporary: Option<bool>,
    /// Matching rows that agree with the family (or have none), in order.
    pub(super) rows: Vec<usize>,
}

/// Where a verdict's IP came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum IpFrom {
    /// A row's `ip` capture: this byte range of the masked reply.
    Capture(usize, usize),
    /// The same capture, seen from the cache: the `slot`-th masked part,
    /// less `skip` bytes at its start and `trim` at its end.
    Slot { slot: usize, skip: usize, trim: usize },
    /// No row captured one: the first IP the reply names, if any.
    Named,
    /// A row's `ip` group matched text that is no IP; read it again.
    Unsure,
}

/// Where the parts of a verdict came from.
#[derive(Debug, Clone)]
pub(super) struct Trace {
    /// Byte ranges of the masked reply the code and zone were captured from.
    pub(super) read: Vec<(usize, usize)>,
    pub(super) ip: IpFrom,
    /// The reply names nobody: the provider came from the rest of the line.
    pub(super) provider_from_line: bool,
}

impl Decision {
    /// The full verdict for `text`, whose reply has `codes`, reads `masked`
    /// once addresses are blanked and names provider `named` (by index).
    pub(super) fn apply(
        &self,
        table: &Table,
        text: &str,
        codes: &ReplyCodes,
        masked: &str,
        named: Option<usize>,
    ) -> (Classification, Trace) {
        let mut out = Classification::default();
        let mut trace = Trace { read: Vec::new(), ip: IpFrom::Named, provider_from_line: false };
        let mut row_provider = None;
        for sig in self.rows.iter().filter_map(|&i| table.signatures.get(i)) {
            row_provider = row_provider.or(sig.provider.as_deref());
            let caps = sig.pattern.as_ref().and_then(|p| p.capturing()).and_then(|re| {
                let mut caps = re.create_captures();
                re.captures(masked.as_bytes(), &mut caps);
                caps.is_match().then_some(caps)
            });
            // Patterns match bytes: a group that would cut a character is not read.
            let group = |name: &str| {
                let m = caps.as_ref()?.get_group_by_name(name)?;
                Some(Group { start: m.start, end: m.end, text: masked.get(m.range())? })
            };
            if out.code.is_none() {
                if let Some(m) = group("code") {
                    out.code = Some(m.text.to_string());
                    trace.read.push((m.start, m.end));
                } else if sig.code_from_enhanced {
                    out.code = codes.enhanced.map(str::to_string);
                }
            }
            if out.zone.is_none()
                && let Some(m) = group("zone")
            {
                out.zone = Some(table.normalise_zone(m.text));
                trace.read.push((m.start, m.end));
            }
            if out.ip.is_none()
                && let Some(m) = group("ip")
            {
                out.ip = m.text.parse::<IpAddr>().ok();
                trace.ip = match out.ip {
                    Some(_) => IpFrom::Capture(m.start, m.end),
                    None => IpFrom::Unsure,
                };
            }
        }
        out.family = self.family.or_else(|| table.status_family(codes.enhanced)).unwrap_or(Family::Other);
        // Who said so: an operator the reply names, else the row's own
        // provider (a documented code), else a receiver the reply names,
        // else the rest of the line (see `Table::provider_from_line`).
        let named = named.and_then(|i| table.provider(i));
        let operator = named.filter(|(_, operator)| *operator).map(|(id, _)| id);
        out.provider = match operator.or(row_provider).or(named.map(|(id, _)| id)) {
            Some(id) => Some(id.to_string()),
            None => {
                trace.provider_from_line = true;
                table.provider_from_line(text).map(str::to_string)
            }
        };
        out.ip = out.ip.or_else(|| first_named_ip(masked));
        out.temporary = codes.temporary().or(self.temporary);
        (out, trace)
    }
}

/// A capture group of a signature's pattern, read from the masked reply.
struct Group<'a> {
    start: usize,
    end: usize,
    text: &'a str,
}
