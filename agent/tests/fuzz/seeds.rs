//! The real lines the fuzzer starts from, read from the repository so that
//! every new fixture also becomes a seed:
//! - `tests/corpus/*.log` (MailEnable samples and `fuzz-seeds.log`, one line
//!   of every shape the parsers know);
//! - the string literals of the parser, tracker and scan fixtures (`{p}`,
//!   `{qid}`… filled in);
//! - every reply of the labelled bounce corpora, bare and inside a Postfix,
//!   qmail and MailEnable delivery line;
//! - a few minutes of the benchmark's simulated Plesk host.

use std::path::{Path, PathBuf};

use crate::generator::Gen;

/// Seed lines in groups, so that a large group (the generated log) does
/// not drown the small ones when a seed is drawn.
#[derive(Debug)]
pub struct Seeds {
    pub groups: Vec<(&'static str, Vec<Vec<u8>>)>,
}

impl Seeds {
    pub fn load() -> Seeds {
        let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
        let corpus = root.join("tests/corpus");
        let mut logs = Vec::new();
        for path in files(&corpus, ".log") {
            logs.extend(lines(&read(&path)).filter(|l| !is_comment(l)).map(<[u8]>::to_vec));
        }
        let mut literals = Vec::new();
        let mut sources = files(&corpus.join("fixtures"), ".rs");
        for rel in [
            "tests/parse_fixtures.rs",
            "tests/attribution.rs",
            "src/attribution/tracker/tests.rs",
            "../bounce/src/tests.rs",
            "src/parse/proptests.rs",
        ] {
            sources.push(root.join(rel));
        }
        for path in sources {
            literals
                .extend(string_literals(&String::from_utf8_lossy(&read(&path))).into_iter().map(String::into_bytes));
        }
        let mut bounces = Vec::new();
        let mut tables = files(&corpus.join("bounces"), ".tsv");
        tables.push(corpus.join("bounces.tsv"));
        for path in tables {
            for line in lines(&read(&path)).filter(|l| !is_comment(l)) {
                let text = String::from_utf8_lossy(line.rsplit(|&b| b == b'\t').next().unwrap_or(line));
                bounces.extend(wrapped(&text).into_iter().map(String::into_bytes));
            }
        }
        let mut generated = Vec::new();
        let mut host = Gen::new(11, 1_767_312_000);
        for minute in 0..3 {
            host.minute(&mut generated, minute).expect("writing to a Vec");
        }
        let generated: Vec<Vec<u8>> = lines(&generated).map(<[u8]>::to_vec).collect();
        Seeds { groups: vec![("logs", logs), ("fixtures", literals), ("bounces", bounces), ("generated", generated)] }
    }

    pub fn len(&self) -> usize {
        self.groups.iter().map(|(_, g)| g.len()).sum()
    }

    /// A random seed: a random group first, then a line of it.
    pub fn pick(&self, rng: &mut fastrand::Rng) -> &[u8] {
        let (_, group) = &self.groups[rng.usize(0..self.groups.len())];
        &group[rng.usize(0..group.len())]
    }
}

fn read(path: &Path) -> Vec<u8> {
    std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// The files in `dir` whose names end with `suffix`, sorted (the run must
/// not depend on the directory's order).
fn files(dir: &Path, suffix: &str) -> Vec<PathBuf> {
    let Ok(entries) = std::fs::read_dir(dir) else { return Vec::new() };
    let mut found: Vec<PathBuf> = entries
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.to_str().is_some_and(|s| s.ends_with(suffix)))
        .collect();
    found.sort();
    found
}

fn lines(bytes: &[u8]) -> impl Iterator<Item = &[u8]> {
    bytes.split(|&b| b == b'\n').filter(|l| !l.is_empty())
}

/// A comment line of a seed or corpus file (`#Fields:` headers are data).
fn is_comment(line: &[u8]) -> bool {
    line.starts_with(b"#") && !line.starts_with(b"#Fields:")
}

/// A reply as received and as the three MTAs log it.
fn wrapped(reply: &str) -> Vec<String> {
    let qmail = reply.replace(' ', "_");
    vec![
        reply.to_string(),
        format!(
            "Jun  3 10:40:58 mail postfix/smtp[9712]: 4AA091855DA0: to=<a@example.org>, relay=mx.example.org[198.51.100.20]:25, delay=1, delays=0/0/1/0, dsn=5.0.0, status=bounced (host mx.example.org[198.51.100.20] said: {reply} (in reply to RCPT TO command))"
        ),
        format!(
            "Jun 10 20:43:36 zulu282 qmail: 1591785816.273300 delivery 295: failure: 198.51.100.30_does_not_like_recipient./Remote_host_said:_{qmail}/Giving_up_on_198.51.100.30./"
        ),
        format!(
            "01/02/26 09:00:12\tSMTP-OU\tAAAA1111.MAI\t11\t203.0.113.40\tRCPT\tRCPT TO:<buyer@example.org>\t{reply}\t30\t10\t"
        ),
    ]
}

/// The string literals of a Rust file that look like log lines (16 bytes
/// or more, with a `: ` or a tab), with the `format!` placeholders the
/// fixtures use filled in.
pub fn string_literals(src: &str) -> Vec<String> {
    let b = src.as_bytes();
    let mut found = Vec::new();
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'/' if b.get(i + 1) == Some(&b'/') => {
                i += b[i..].iter().position(|&c| c == b'\n').unwrap_or(b.len() - i);
            }
            b'\'' => {
                // A char literal ('"', '\'') is skipped; a lifetime is not one.
                if b.get(i + 1) == Some(&b'\\') {
                    i += 2 + b[i + 2..].iter().position(|&c| c == b'\'').map_or(0, |p| p + 1);
                } else if b.get(i + 2) == Some(&b'\'') {
                    i += 3;
                } else {
                    i += 1;
                }
            }
            b'r' if matches!(b.get(i + 1), Some(b'#' | b'"')) && (i == 0 || !b[i - 1].is_ascii_alphanumeric()) => {
                let hashes = b[i + 1..].iter().take_while(|&&c| c == b'#').count();
                let open = i + 1 + hashes;
                if b.get(open) != Some(&b'"') {
                    i += 1;
                    continue;
                }
                let close = format!("\"{}", "#".repeat(hashes));
                let body = &src[open + 1..];
                let end = body.find(&close).unwrap_or(body.len());
                found.push(body[..end].to_string());
                i = open + 1 + end + close.len();
            }
            b'"' => {
                let (text, used) = cooked(&src[i + 1..]);
                found.push(text);
                i += 1 + used;
            }
            _ => i += 1,
        }
    }
    found
        .into_iter()
        .map(|s| fill_placeholders(&s))
        .filter(|s| s.len() >= 16 && (s.contains(": ") || s.contains('\t')))
        .collect()
}

/// The text of a `"…"` literal starting after its quote, and the bytes it
/// used including the closing quote.
fn cooked(s: &str) -> (String, usize) {
    let mut out = String::new();
    let mut chars = s.char_indices().peekable();
    while let Some((i, c)) = chars.next() {
        match c {
            '"' => return (out, i + 1),
            '\\' => match chars.next().map(|(_, e)| e) {
                Some('n') => out.push('\n'),
                Some('t') => out.push('\t'),
                Some('r') => out.push('\r'),
                Some('0') => out.push('\0'),
                Some('x') => {
                    let hex: String = (0..2).filter_map(|_| chars.next().map(|(_, h)| h)).collect();
                    out.push(u8::from_str_radix(&hex, 16).map_or('?', char::from));
                }
                Some('u') => {
                    let mut hex = String::new();
                    for (_, h) in chars.by_ref() {
                        match h {
                            '{' => {}
                            '}' => break,
                            h => hex.push(h),
                        }
                    }
                    out.push(u32::from_str_radix(&hex, 16).ok().and_then(char::from_u32).unwrap_or('?'));
                }
                Some('\n') => {
                    while chars.peek().is_some_and(|(_, c)| c.is_whitespace()) {
                        chars.next();
                    }
                }
                Some(other) => out.push(other),
                None => {}
            },
            c => out.push(c),
        }
    }
    (out, s.len())
}

/// `{p}`, `{qid}`… as the fixtures fill them; other `{name}`s become `1`.
fn fill_placeholders(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(open) = rest.find('{') {
        out.push_str(&rest[..open]);
        let after = &rest[open + 1..];
        let name_len = after.bytes().take_while(|&c| c.is_ascii_alphanumeric() || c == b'_' || c == b':').count();
        if after.as_bytes().get(name_len) == Some(&b'}') && name_len <= 12 {
            out.push_str(match &after[..name_len] {
                "p" => "Jun  3 10:40:57 mail",
                "qid" => "4AA091855DA0",
                "ip" => "203.0.113.5",
                "domain" => "example.org",
                "relay" => "mx.example.org[198.51.100.20]:25",
                "status" => "bounced",
                "to" | "user" | "s" => "user@example.org",
                _ => "1",
            });
            rest = &after[name_len + 1..];
        } else if let Some(inner) = after.strip_prefix('{') {
            out.push('{');
            rest = inner;
        } else {
            out.push('{');
            rest = after;
        }
    }
    out.push_str(rest);
    out
}
