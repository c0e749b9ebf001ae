//! Timestamps as mail logs write them, turned into milliseconds since the Unix
//! epoch (UTC).
//!
//! Forms handled:
//! - traditional syslog `Nov  7 10:00:01` / `Nov 07 10:00:01` (no year, local
//!   time): the year comes from a reference time, see [`infer_year`];
//! - RFC 3339 `2022-01-08T19:42:13.128602+00:00`, `…Z`, journalctl short-iso
//!   `2023-09-08T17:20:30+0200` (no colon), and no offset at all (local time);
//! - qmail's `1054189746.123136` (splogger) and `@4000…` TAI64N (multilog);
//! - MailEnable's `10/19/18 00:00:25` (MM/DD/YY, local time).
//!
//! Everything here is a pure function of its inputs: "local time" means
//! "apply the caller's UTC offset", because parsing never looks at the host.

const MS_PER_DAY: i64 = 86_400_000;

/// How far in the future of the reference a year-less date may lie before we
/// decide it belongs to the previous year. Clocks drift and log shippers lag,
/// so a little "future" is normal; a date months ahead is last year's.
const FUTURE_TOLERANCE_MS: i64 = 7 * MS_PER_DAY;

/// Days since 1970-01-01 of a proleptic Gregorian date (Hinnant's algorithm).
pub(crate) fn days_from_civil(year: i64, month: u32, day: u32) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (i64::from(month) + 9) % 12;
    let doy = (153 * mp + 2) / 5 + i64::from(day) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// (year, month, day) of `days` since 1970-01-01 (Howard Hinnant's
/// algorithm, the inverse of `days_from_civil`).
pub fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    // month is 1..=12 and day 1..=31 by construction.
    (yoe + era * 400 + i64::from(month <= 2), month as u32, day as u32)
}

/// The civil year containing `days` since the epoch.
fn year_of_days(days: i64) -> i64 {
    civil_from_days(days).0
}

fn is_leap(year: i64) -> bool {
    (year % 4 == 0 && year % 100 != 0) || year % 400 == 0
}

fn days_in_month(year: i64, month: u32) -> u32 {
    match month {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if is_leap(year) => 29,
        2 => 28,
        _ => 0,
    }
}

/// A wall-clock time of day with milliseconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct TimeOfDay {
    pub hour: u32,
    pub minute: u32,
    pub second: u32,
    pub milli: u32,
}

impl TimeOfDay {
    fn ms(self) -> i64 {
        i64::from(self.hour) * 3_600_000
            + i64::from(self.minute) * 60_000
            + i64::from(self.second) * 1000
            + i64::from(self.milli)
    }
}

/// Milliseconds since the epoch of a civil date and time, or `None` when the
/// date does not exist (Feb 30, month 13).
pub(crate) fn civil_ms(year: i64, month: u32, day: u32, tod: TimeOfDay) -> Option<i64> {
    if !(1..=12).contains(&month) || day == 0 || day > days_in_month(year, month) {
        return None;
    }
    Some(days_from_civil(year, month, day) * MS_PER_DAY + tod.ms())
}

/// Parses exactly `n` ASCII digits at the start of `b`.
pub(crate) fn digits(b: &[u8], n: usize) -> Option<u32> {
    let part = b.get(..n)?;
    let mut v: u32 = 0;
    for &c in part {
        if !c.is_ascii_digit() {
            return None;
        }
        v = v * 10 + u32::from(c - b'0');
    }
    Some(v)
}

/// Parses `hh:mm:ss` plus an optional `.fraction`; returns the time and the
/// number of bytes used.
pub(crate) fn parse_time_of_day(b: &[u8]) -> Option<(TimeOfDay, usize)> {
    let hour = digits(b, 2)?;
    let minute = digits(b.get(3..)?, 2)?;
    let second = digits(b.get(6..)?, 2)?;
    if b[2] != b':' || b[5] != b':' || hour > 23 || minute > 59 || second > 60 {
        return None;
    }
    let mut used = 8;
    let mut milli = 0;
    if b.get(8) == Some(&b'.') {
        let frac = b[9..].iter().take_while(|c| c.is_ascii_digit()).count();
        if frac == 0 {
            return None;
        }
        let mut scale = 100;
        for &c in &b[9..9 + frac.min(3)] {
            milli += u32::from(c - b'0') * scale;
            scale /= 10;
        }
        used = 9 + frac;
    }
    // A leap second is folded into the next second's start, as most tools do.
    let second = second.min(59);
    Some((TimeOfDay { hour, minute, second, milli }, used))
}

/// Parses an RFC 3339 timestamp at the start of `s` (date `T` time, optional
/// fraction, then `Z`, `±hh:mm`, `±hhmm` or nothing). Without an offset the
/// time is local and `utc_offset_s` is applied. Returns (ms, bytes used).
pub(crate) fn parse_rfc3339_prefix(s: &str, utc_offset_s: i32) -> Option<(i64, usize)> {
    let b = s.as_bytes();
    let year = digits(b, 4)?;
    let month = digits(b.get(5..)?, 2)?;
    let day = digits(b.get(8..)?, 2)?;
    if b[4] != b'-' || b[7] != b'-' || b.get(10) != Some(&b'T') {
        return None;
    }
    let (tod, used) = parse_time_of_day(b.get(11..)?)?;
    let local = civil_ms(i64::from(year), month, day, tod)?;
    let mut pos = 11 + used;
    let offset_s: i64 = match b.get(pos) {
        Some(b'Z' | b'z') => {
            pos += 1;
            0
        }
        Some(&sign @ (b'+' | b'-')) => {
            let hh = digits(b.get(pos + 1..)?, 2)?;
            let (mm, len) = if b.get(pos + 3) == Some(&b':') {
                (digits(b.get(pos + 4..)?, 2)?, 6)
            } else {
                (digits(b.get(pos + 3..)?, 2)?, 5)
            };
            if hh > 23 || mm > 59 {
                return None;
            }
            pos += len;
            let secs = i64::from(hh * 3600 + mm * 60);
            if sign == b'-' { -secs } else { secs }
        }
        _ => i64::from(utc_offset_s),
    };
    Some((local - offset_s * 1000, pos))
}

/// The month number of an English three-letter abbreviation ("Nov" → 11).
///
/// Runs on every syslog line, so it is one `match` instead of twelve
/// case-insensitive comparisons (a fifth of the syslog prefix's cost).
/// Setting bit 0x20 lowercases a letter, and only the two cases of a letter
/// map to the same lowercase letter, so no other byte can match.
pub(crate) fn month_from_abbr(m: &[u8]) -> Option<u32> {
    let &[a, b, c, ..] = m else { return None };
    Some(match [a | 0x20, b | 0x20, c | 0x20] {
        [b'j', b'a', b'n'] => 1,
        [b'f', b'e', b'b'] => 2,
        [b'm', b'a', b'r'] => 3,
        [b'a', b'p', b'r'] => 4,
        [b'm', b'a', b'y'] => 5,
        [b'j', b'u', b'n'] => 6,
        [b'j', b'u', b'l'] => 7,
        [b'a', b'u', b'g'] => 8,
        [b's', b'e', b'p'] => 9,
        [b'o', b'c', b't'] => 10,
        [b'n', b'o', b'v'] => 11,
        [b'd', b'e', b'c'] => 12,
        _ => return None,
    })
}

/// Parses a traditional syslog timestamp (`Nov  7 10:00:01`, `Nov 07 …`,
/// `Nov 7 …`, optional fraction) at the start of `s`. Returns the month, day,
/// time and bytes used; the year is decided by [`infer_year`].
pub(crate) fn parse_bsd_prefix(s: &str) -> Option<(u32, u32, TimeOfDay, usize)> {
    let b = s.as_bytes();
    let month = month_from_abbr(b)?;
    if b.get(3) != Some(&b' ') {
        return None;
    }
    let mut pos = 4;
    if b.get(pos) == Some(&b' ') {
        pos += 1;
    }
    let day_len = b[pos..].iter().take_while(|c| c.is_ascii_digit()).count();
    if !(1..=2).contains(&day_len) {
        return None;
    }
    let day = digits(&b[pos..], day_len)?;
    pos += day_len;
    if b.get(pos) != Some(&b' ') {
        return None;
    }
    let (tod, used) = parse_time_of_day(b.get(pos + 1..)?)?;
    Some((month, day, tod, pos + 1 + used))
}

/// Places a year-less local date in the year that makes it the latest moment
/// not more than [`FUTURE_TOLERANCE_MS`] after the reference: a `Dec 31` line
/// read on Jan 2 belongs to the previous year, a `Jan 1` line read on Dec 31
/// (a clock slightly ahead) to the next one.
pub(crate) fn infer_year(month: u32, day: u32, tod: TimeOfDay, reference_ms: i64, utc_offset_s: i32) -> Option<i64> {
    let offset_ms = i64::from(utc_offset_s) * 1000;
    let reference_local = reference_ms + offset_ms;
    let ref_year = year_of_days(reference_local.div_euclid(MS_PER_DAY));
    [ref_year + 1, ref_year, ref_year - 1]
        .into_iter()
        .filter_map(|y| civil_ms(y, month, day, tod))
        .find(|&local| local <= reference_local + FUTURE_TOLERANCE_MS)
        .map(|local| local - offset_ms)
}

/// Remembers the year [`infer_year`] chose for the last date, when that
/// choice holds for every time of that day (it does except for dates at the
/// edge of the tolerance), so that a log's lines, which share their date,
/// skip the calendar arithmetic.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct YearCache {
    /// (month, day, reference_ms, utc_offset_s) → year.
    entry: Option<((u32, u32, i64, i32), i64)>,
    /// The last line's timestamp, whole.
    pub(crate) last: LastStamp,
}

/// The last timestamp read and what it gave: a busy log writes several
/// lines a second, and a line that starts with the same bytes followed by a
/// space has the same time (a timestamp is read up to the first space and
/// never past it), so its prefix is compared instead of parsed: a fifth of
/// a syslog line's parsing cost.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct LastStamp {
    bytes: [u8; LastStamp::MAX],
    len: u8,
    /// (ts_ms, used) for (reference_ms, utc_offset_s).
    value: Option<((i64, usize), i64, i32)>,
}

impl LastStamp {
    /// Longest timestamp kept (RFC 3339 with micros and an offset is 32);
    /// a longer one is parsed every time.
    const MAX: usize = 32;

    /// The timestamp of `line` if it starts like the last one did.
    pub(crate) fn get(&self, line: &[u8], reference_ms: i64, utc_offset_s: i32) -> Option<(i64, usize)> {
        let (value, reference, offset) = self.value?;
        let len = usize::from(self.len);
        (reference == reference_ms
            && offset == utc_offset_s
            && line.get(len) == Some(&b' ')
            && line.get(..len) == self.bytes.get(..len))
        .then_some(value)
    }

    /// Remembers that `line` starts with a timestamp of `used` bytes at `ts_ms`.
    pub(crate) fn set(&mut self, line: &[u8], (ts_ms, used): (i64, usize), reference_ms: i64, utc_offset_s: i32) {
        match (line.get(..used), u8::try_from(used)) {
            (Some(prefix), Ok(len)) if used <= LastStamp::MAX => {
                self.bytes[..used].copy_from_slice(prefix);
                self.len = len;
                self.value = Some(((ts_ms, used), reference_ms, utc_offset_s));
            }
            _ => self.value = None,
        }
    }
}

impl YearCache {
    /// Same result as [`infer_year`].
    pub(crate) fn infer(
        &mut self,
        month: u32,
        day: u32,
        tod: TimeOfDay,
        reference_ms: i64,
        utc_offset_s: i32,
    ) -> Option<i64> {
        let key = (month, day, reference_ms, utc_offset_s);
        let offset_ms = i64::from(utc_offset_s) * 1000;
        if (0..MS_PER_DAY).contains(&tod.ms()) {
            if let Some((cached, year)) = self.entry
                && cached == key
            {
                return civil_ms(year, month, day, tod).map(|local| local - offset_ms);
            }
            self.entry = whole_day_year(month, day, reference_ms + offset_ms).map(|year| (key, year));
        }
        infer_year(month, day, tod, reference_ms, utc_offset_s)
    }
}

/// The year [`infer_year`] picks for every time of the date, if it is the
/// same for all of them.
fn whole_day_year(month: u32, day: u32, reference_local: i64) -> Option<i64> {
    let limit = reference_local + FUTURE_TOLERANCE_MS;
    let ref_year = year_of_days(reference_local.div_euclid(MS_PER_DAY));
    let midnight = TimeOfDay { hour: 0, minute: 0, second: 0, milli: 0 };
    for year in [ref_year + 1, ref_year, ref_year - 1] {
        let Some(first) = civil_ms(year, month, day, midnight) else { continue };
        if first + MS_PER_DAY - 1 <= limit {
            return Some(year);
        }
        if first <= limit {
            return None; // the choice depends on the time of day
        }
    }
    None
}

/// Parses qmail's `seconds.micros` (splogger) or `@4000…` TAI64N (multilog)
/// at the start of `s`; returns (ms, bytes used including one trailing space).
pub(crate) fn parse_qmail_stamp(s: &str) -> Option<(i64, usize)> {
    let b = s.as_bytes();
    if b.first() == Some(&b'@') {
        let hex = b.get(1..25)?;
        let text = std::str::from_utf8(hex).ok()?;
        let secs = u64::from_str_radix(text.get(..16)?, 16).ok()?;
        let nanos = u32::from_str_radix(text.get(16..)?, 16).ok()?;
        // TAI64 labels are 2^62 + TAI seconds; TAI runs 10 s (plus leap
        // seconds, ignored here: a few seconds do not matter for mail stats)
        // ahead of UTC.
        let unix = i64::try_from(secs.checked_sub((1u64 << 62) + 10)?).ok()?;
        let used = if b.get(25) == Some(&b' ') { 26 } else { 25 };
        // A label far in the future overflows milliseconds: no usable time.
        let ms = unix.checked_mul(1000)?.checked_add(i64::from(nanos / 1_000_000))?;
        return Some((ms, used));
    }
    let int_len = b.iter().take_while(|c| c.is_ascii_digit()).count();
    if !(9..=11).contains(&int_len) || b.get(int_len) != Some(&b'.') {
        return None;
    }
    let frac_len = b[int_len + 1..].iter().take_while(|c| c.is_ascii_digit()).count();
    if frac_len == 0 || b.get(int_len + 1 + frac_len) != Some(&b' ') {
        return None;
    }
    let secs: i64 = s.get(..int_len)?.parse().ok()?;
    let frac = &b[int_len + 1..int_len + 1 + frac_len.min(3)];
    let mut milli = 0i64;
    let mut scale = 100;
    for &c in frac {
        milli += i64::from(c - b'0') * scale;
        scale /= 10;
    }
    Some((secs * 1000 + milli, int_len + 2 + frac_len))
}

/// Parses a date written `MM/DD/YY` or `YYYY-MM-DD` (MailEnable, W3C logs).
pub(crate) fn parse_date(s: &str) -> Option<(i64, u32, u32)> {
    let b = s.as_bytes();
    if b.len() == 8 && b[2] == b'/' && b[5] == b'/' {
        let (m, d, y) = (digits(b, 2)?, digits(&b[3..], 2)?, digits(&b[6..], 2)?);
        return Some((2000 + i64::from(y), m, d));
    }
    if b.len() == 10 && b[4] == b'-' && b[7] == b'-' {
        return Some((i64::from(digits(b, 4)?), digits(&b[5..], 2)?, digits(&b[8..], 2)?));
    }
    None
}

#[cfg(test)]
mod tests;
