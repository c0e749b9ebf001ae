//! SMTP reply codes and qmail's report escaping: the few pieces of reply
//! syntax that both the log parsers and the classifier read.

/// The SMTP enhanced status code (`5.7.1`) at the start of `s`, if any.
pub fn enhanced_code(s: &str) -> Option<&str> {
    let b = s.as_bytes();
    if !matches!(b.first(), Some(b'2' | b'4' | b'5')) || b.get(1) != Some(&b'.') {
        return None;
    }
    let subject = b[2..].iter().take_while(|c| c.is_ascii_digit()).count();
    if subject == 0 || subject > 3 || b.get(2 + subject) != Some(&b'.') {
        return None;
    }
    let detail = b[3 + subject..].iter().take_while(|c| c.is_ascii_digit()).count();
    if detail == 0 || detail > 3 {
        return None;
    }
    s.get(..3 + subject + detail)
}

/// The three-digit SMTP reply code at the start of `s` (`550 …`, `550-…`).
pub fn reply_code(s: &str) -> Option<u16> {
    let b = s.as_bytes();
    if b.len() < 3 || !matches!(b[0], b'2'..=b'5') || !b[1].is_ascii_digit() || !b[2].is_ascii_digit() {
        return None;
    }
    if b.get(3).is_some_and(|c| c.is_ascii_alphanumeric()) {
        return None;
    }
    s.get(..3)?.parse().ok()
}

/// Undoes qmail-send's report escaping: `_` was a space (or another
/// unprintable byte) and `/` a line break. A literal `/` (in a URL) stays: a
/// `/` counts as a line break only at the end or before what qmail-remote
/// starts a line with (a reply code, "Remote host said", "Giving up on"…).
/// Lines are joined with single spaces.
pub fn unescape_report(report: &str) -> String {
    const LINE_STARTS: &[&str] =
        &["Remote_host_said", "Giving_up_on", "I'm_not_going", "Sorry", "Connected_to", "I_tried", "CNAME_lookup"];
    let mut out = String::with_capacity(report.len());
    for (i, c) in report.char_indices() {
        match c {
            '_' => out.push(' '),
            '/' => {
                let next = &report[i + 1..];
                let nb = next.as_bytes();
                let code_line =
                    nb.len() >= 4 && nb[..3].iter().all(u8::is_ascii_digit) && matches!(nb[3], b'_' | b'-' | b' ');
                let is_break = next.is_empty() || code_line || LINE_STARTS.iter().any(|p| next.starts_with(p));
                // A break after a break (or at the start) adds nothing.
                if is_break {
                    if !out.is_empty() && !out.ends_with(' ') {
                        out.push(' ');
                    }
                } else {
                    out.push('/');
                }
            }
            _ => out.push(c),
        }
    }
    out.trim_end().to_string()
}
