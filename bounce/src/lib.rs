//! Bounce classification: what a remote server's reply says about us.
//!
//! From a reply text (or a whole delivery log line) to the family of the
//! problem, who said so, the blocklist zone, the receiver's own code, the IP
//! the receiver names and whether the failure is temporary. The rules are the
//! data in `signatures.toml` (taxonomy: docs/DESIGN.md, "Bounce taxonomy");
//! this module only interprets them.
//!
//! Two decisions peers get wrong: the verdict comes from the reply's own code
//! and words, never from the MTA's `status=` (Postfix logs a 5xx greeting as
//! `deferred`); and the provider is the list operator when the text names one
//! (Yahoo's `[BL21] … Spamhaus's list` is a Spamhaus listing, with Yahoo's code).

mod cache;
mod key;
mod mask;
mod reply;
pub mod smtp;
mod table;
mod text;
mod verdict;

#[cfg(test)]
mod proptests;
#[cfg(test)]
mod tests;

use std::cell::RefCell;
use std::io::Write as _;
use std::net::IpAddr;
use std::sync::LazyLock;

use serde::{Deserialize, Serialize};

use cache::VerdictCache;
pub use table::{SignatureError, Table};

/// The signature table shipped with the agent.
pub const BUILTIN_SIGNATURES: &str = include_str!("signatures.toml");

/// What kind of problem a bounce reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Family {
    /// The sending IP is listed or has a bad reputation.
    Ip,
    /// A domain in the message (sender, links) is listed.
    Domain,
    /// The message was judged spam by its content.
    Content,
    /// SPF, DKIM, DMARC or reverse DNS (PTR) failed.
    Auth,
    /// Unknown user, mailbox full, disabled account.
    Recipient,
    /// Timeouts, greylisting, connection problems, throttling.
    Transient,
    /// Anything else, or nothing recognisable.
    #[default]
    Other,
}

impl Family {
    /// The taxonomy's lowercase name, as on the wire and in JSON.
    pub fn name(self) -> &'static str {
        match self {
            Family::Ip => "ip",
            Family::Domain => "domain",
            Family::Content => "content",
            Family::Auth => "auth",
            Family::Recipient => "recipient",
            Family::Transient => "transient",
            Family::Other => "other",
        }
    }
}

/// The classifier's verdict on one reply. Serialised with exactly these field
/// names (the `classify` command's JSON lines); unknown fields are `null`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Classification {
    /// The kind of problem.
    pub family: Family,
    /// Who said so: the list operator when the text names one, else the receiver.
    pub provider: Option<String>,
    /// The blocklist zone the reply names, without any customer key label.
    pub zone: Option<String>,
    /// The provider's own code (`S3140`, `TSS04`, `BL21`, `CS01`, `AUP#CXBL`…).
    pub code: Option<String>,
    /// The IP address the receiver names (normally our sending IP).
    pub ip: Option<IpAddr>,
    /// From the reply's SMTP code: 4xx/4.x.x temporary, 5xx/5.x.x permanent.
    pub temporary: Option<bool>,
}

/// The built-in table, loaded on first use, each row's regex on the row's
/// first use (`table::Pattern`: compiling all of them would cost a short
/// `scan` a quarter of its time). The file is embedded at build time and a
/// unit test compiles it whole, so a broken table cannot ship; if it ever
/// failed anyway the classifier would say "other" for everything rather than
/// take the agent down, and log why once.
static BUILTIN: LazyLock<Table> = LazyLock::new(|| match Table::builtin(BUILTIN_SIGNATURES) {
    Ok(table) => table,
    Err(e) => {
        tracing::error!(error = %e, "built-in bounce signatures do not load; every bounce classifies as other");
        Table::empty()
    }
});

thread_local! {
    /// Per thread, so the agent's log stage and each `scan` thread classify
    /// without a lock.
    static CACHE: RefCell<VerdictCache> = RefCell::new(VerdictCache::default());
}

/// Classifies a reply text or a whole delivery log line with the built-in
/// table, reusing the verdict of an earlier reply with the same wording.
pub fn classify(text: &str) -> Classification {
    CACHE.with(|cache| match cache.try_borrow_mut() {
        Ok(mut cache) => BUILTIN.classify_cached(text, &mut cache),
        // Only reachable if classification re-entered itself; never wrong, just uncached.
        Err(_) => BUILTIN.classify(text),
    })
}

/// Hits and misses of this thread's verdict cache so far (for benchmarks).
pub fn cache_stats() -> (u64, u64) {
    CACHE.with(|cache| cache.try_borrow().map_or((0, 0), |cache| (cache.hits, cache.misses)))
}

/// The `classify` command: one JSON object (a [`Classification`]) per input
/// line. Input bytes that are not UTF-8 are replaced, never fatal; an empty
/// line still gets its (all-null, `other`) object so output lines match input
/// lines one to one.
pub fn classify_lines<R: std::io::BufRead, W: std::io::Write>(input: R, output: W) -> std::io::Result<()> {
    let mut output = std::io::BufWriter::new(output);
    for line in input.split(b'\n') {
        let line = line?;
        let text = String::from_utf8_lossy(&line);
        let verdict = classify(text.trim_end_matches('\r'));
        serde_json::to_writer(&mut output, &verdict)?;
        output.write_all(b"\n")?;
    }
    output.flush()
}
