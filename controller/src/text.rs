//! Text from outside the process (DNS answers, catalog files) made safe to
//! print: no terminal escapes, bounded length.

pub mod file;

/// `text` with control characters (terminal escapes, newlines) replaced by
/// spaces, trimmed, and cut to `max` bytes on a character boundary.
pub fn printable(text: &str, max: usize) -> String {
    let clean: String = text.chars().map(|c| if c.is_control() { ' ' } else { c }).collect();
    let clean = clean.trim();
    if clean.len() <= max {
        return clean.to_string();
    }
    let mut end = max;
    while !clean.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", clean[..end].trim_end())
}
