//! Error texts for configuration files (the controller config and the zone
//! catalog): where in the file, which key, what is wrong — never the line
//! itself, which may hold a zone key.

/// `bytes` as UTF-8, or "line L, column C: not UTF-8 text".
pub(crate) fn utf8_text(bytes: &[u8]) -> Result<&str, String> {
    std::str::from_utf8(bytes).map_err(|e| {
        let (line, column) = position(bytes, e.valid_up_to());
        format!("line {line}, column {column}: not UTF-8 text (save the file as UTF-8)")
    })
}

/// A TOML error as "line L, column C (key): message".
pub(crate) fn toml_error_text(text: &str, error: &toml::de::Error) -> String {
    let message = printable(error.message().trim());
    let Some(span) = error.span() else { return message };
    let at = span.start.min(text.len());
    let (line, column) = position(text.as_bytes(), at);
    match key_at(text, at) {
        Some(key) => format!("line {line}, column {column} ({key}): {message}"),
        None => format!("line {line}, column {column}: {message}"),
    }
}

/// 1-based line and column (in characters) of byte offset `at`.
fn position(bytes: &[u8], at: usize) -> (usize, usize) {
    let before = &bytes[..at.min(bytes.len())];
    let line = before.iter().filter(|&&b| b == b'\n').count() + 1;
    let start = before.iter().rposition(|&b| b == b'\n').map_or(0, |i| i + 1);
    let column = String::from_utf8_lossy(&before[start..]).chars().count() + 1;
    (line, column)
}

/// The dotted key the line holding `at` sets, under the table in force there
/// ("dnsbl.timeout"); the table itself when the line is a header or sets no key.
fn key_at(text: &str, at: usize) -> Option<String> {
    let mut table = String::new();
    let mut offset = 0;
    for line in text.split_inclusive('\n') {
        let end = offset + line.len();
        let trimmed = line.trim();
        let header = header(trimmed);
        if at < end || end == text.len() {
            if let Some(header) = header {
                return Some(header);
            }
            let key = trimmed.split_once('=').map(|(k, _)| k.trim()).filter(|k| !k.is_empty() && !k.starts_with('#'));
            return match key {
                Some(key) if table.is_empty() => Some(printable(key)),
                Some(key) => Some(format!("{table}.{}", printable(key))),
                None => (!table.is_empty()).then_some(table),
            };
        }
        if let Some(header) = header {
            table = header;
        }
        offset = end;
    }
    None
}

/// The table name of a `[table]` or `[[array]]` line.
fn header(line: &str) -> Option<String> {
    let inner = line.strip_prefix('[')?;
    let inner = inner.strip_prefix('[').unwrap_or(inner);
    let name = inner.split(']').next()?.trim();
    (!name.is_empty()).then(|| printable(name))
}

/// Control characters replaced, and cut to 200 characters: an error quotes
/// names from the file, which may be anything.
fn printable(text: &str) -> String {
    const MAX: usize = 200;
    let mut out: String = text.chars().take(MAX).map(|c| if c.is_control() { ' ' } else { c }).collect();
    if text.chars().nth(MAX).is_some() {
        out.push('…');
    }
    out
}
