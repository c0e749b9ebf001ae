//! The agent's log stage without the files: a line goes through what
//! `logs` and `run/evidence` do with it (lossy UTF-8, the parser, the
//! tracker and the period's aggregator, which classifies every delivery
//! reply) and through `bounce::classify` as a whole, as `classify` reads it.
//! A panic anywhere is caught and reported with the line that caused it.

use std::cell::{Cell, RefCell};
use std::fmt::Write as _;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Once;

use rblfleet_agent::attribution::{Aggregator, Limits, Tracker, UserMap};
use rblfleet_agent::bounce::classify;
use rblfleet_agent::parse::{Event, Parser};

/// 2025-06-10T00:00:00Z, the parsers' "now".
const REFERENCE_MS: i64 = 1_749_513_600_000;

/// Lines per simulated report period: the aggregator is taken and its
/// report built, as the agent does every interval.
const PERIOD: u64 = 20_000;

/// The agent's log stage for one stream of lines.
#[derive(Debug)]
pub struct Harness {
    pub parser: Parser,
    pub tracker: Tracker,
    agg: Aggregator,
    events: Vec<Event>,
    pub lines: u64,
    /// Sources and evidence groups seen in the last report built.
    pub last_report: (usize, usize),
}

impl Harness {
    /// A stage whose tracker keeps at most `max_messages` per MTA family.
    pub fn new(max_messages: usize) -> Harness {
        let users = UserMap::from_passwd(
            "root:x:0:0:root:/root:/bin/bash\nsys10001:x:10001:1003::/var/www/vhosts/shop.example:/bin/false\n\
             qmaild:x:1002:1002::/var/qmail:/bin/false\n",
        );
        Harness {
            parser: Parser::new(REFERENCE_MS),
            tracker: Tracker::new(max_messages, users),
            agg: Aggregator::new(Limits::default()),
            events: Vec::new(),
            lines: 0,
            last_report: (0, 0),
        }
    }

    /// One raw line, as the log reader hands it over.
    pub fn feed(&mut self, raw: &[u8]) {
        let text = String::from_utf8_lossy(raw);
        self.events.clear();
        self.parser.parse_line(&text, &mut self.events);
        for event in &self.events {
            self.tracker.event(event, &mut self.agg);
        }
        std::hint::black_box(classify(&text));
        self.lines += 1;
        if self.lines.is_multiple_of(PERIOD) {
            self.report();
        }
    }

    /// Ends a period: what the agent puts in its report.
    pub fn report(&mut self) {
        let agg = self.agg.take();
        let ranked = agg.ranked(self.tracker.users(), 20);
        let sources: Vec<_> = ranked.iter().map(|r| r.to_proto()).collect();
        let evidence = agg.evidence(100);
        std::hint::black_box((agg.totals(), agg.receivers(), &sources));
        self.last_report = (sources.len(), evidence.len());
        std::hint::black_box(self.parser.take_unparsed());
    }
}

thread_local! {
    static CATCHING: Cell<bool> = const { Cell::new(false) };
    static CAUGHT: RefCell<Option<String>> = const { RefCell::new(None) };
}

/// Runs `f`, returning the panic's message and place instead of unwinding.
/// Other threads' panics (the other tests) are printed as usual.
pub fn catching(f: impl FnOnce()) -> Result<(), String> {
    static HOOK: Once = Once::new();
    HOOK.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            if CATCHING.with(Cell::get) {
                CAUGHT.with(|c| *c.borrow_mut() = Some(info.to_string()));
            } else {
                previous(info);
            }
        }));
    });
    CATCHING.with(|c| c.set(true));
    let result = catch_unwind(AssertUnwindSafe(f));
    CATCHING.with(|c| c.set(false));
    result.map_err(|_| CAUGHT.with(|c| c.borrow_mut().take()).unwrap_or_else(|| "panic".to_string()))
}

/// A line as one line of text: printable ASCII as is, letters of other
/// scripts as is, everything else escaped (`\t \r \n \0 \\ \xNN \u{N}`),
/// and a leading `#` as `\x23` so it is not read as a comment.
pub fn escape(line: &[u8]) -> String {
    let mut out = String::with_capacity(line.len());
    for chunk in line.utf8_chunks() {
        for c in chunk.valid().chars() {
            match c {
                '\\' => out.push_str("\\\\"),
                '\t' => out.push_str("\\t"),
                '\r' => out.push_str("\\r"),
                '\n' => out.push_str("\\n"),
                '\0' => out.push_str("\\0"),
                '#' if out.is_empty() => out.push_str("\\x23"),
                ' '..='~' => out.push(c),
                c if c.is_alphabetic() || c == '€' => out.push(c),
                c if c.is_ascii() => {
                    let _ = write!(out, "\\x{:02x}", u32::from(c));
                }
                c => {
                    let _ = write!(out, "\\u{{{:x}}}", u32::from(c));
                }
            }
        }
        for b in chunk.invalid() {
            let _ = write!(out, "\\x{b:02x}");
        }
    }
    out
}

/// The bytes of an [`escape`]d line. `\x` takes two hex digits and gives
/// that byte (not UTF-8 encoded), so invalid UTF-8 round-trips.
pub fn unescape(text: &str) -> Result<Vec<u8>, String> {
    let mut out = Vec::with_capacity(text.len());
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            let mut buf = [0; 4];
            out.extend_from_slice(c.encode_utf8(&mut buf).as_bytes());
            continue;
        }
        match chars.next() {
            Some('\\') => out.push(b'\\'),
            Some('t') => out.push(b'\t'),
            Some('r') => out.push(b'\r'),
            Some('n') => out.push(b'\n'),
            Some('0') => out.push(0),
            Some('x') => {
                let hex: String = chars.by_ref().take(2).collect();
                out.push(u8::from_str_radix(&hex, 16).map_err(|_| format!("bad \\x{hex} in {text:?}"))?);
            }
            Some('u') => {
                let body: String = chars.by_ref().take_while(|&c| c != '}').collect();
                let c = body
                    .strip_prefix('{')
                    .and_then(|h| u32::from_str_radix(h, 16).ok())
                    .and_then(char::from_u32)
                    .ok_or_else(|| format!("bad \\u{body}}} in {text:?}"))?;
                let mut buf = [0; 4];
                out.extend_from_slice(c.encode_utf8(&mut buf).as_bytes());
            }
            other => return Err(format!("bad escape \\{other:?} in {text:?}")),
        }
    }
    Ok(out)
}

/// A `/proc/self/status` figure in KiB (`VmHWM`, `VmRSS`).
pub fn status_kib(field: &str) -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with(field))?;
    line.split_whitespace().nth(1)?.parse().ok()
}
