//! What the agent reported, remembered across restarts.
//!
//! An action may name only a source the agent itself reported. Held in
//! memory alone, that evidence would vanish with every restart (an upgrade,
//! a crash) while the controller still shows the source for days, and the
//! NOC's plan would be refused until the source sent mail again. So the
//! sources of stored reports are kept in `sources.json` in the ledger's
//! directory (mode 0700, written only by the agent): the evidence stays the
//! agent's own, bounded in count ([`MAX_SOURCES`]) and in age ([`MAX_AGE_MS`],
//! the controller's look-back for a plan).

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::{ReportedSource, SourceKind};

/// The most sources remembered; the least recently seen go first.
pub const MAX_SOURCES: usize = 1024;
/// A source not reported for this long is forgotten (the controller plans
/// only on sources of the last 7 days).
pub const MAX_AGE_MS: i64 = 7 * 86_400_000;

/// One remembered source and when a report last carried it.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
struct Seen {
    source: ReportedSource,
    seen_ms: i64,
}

/// The sources the agent reported lately, optionally saved in a file.
#[derive(Debug, Default)]
pub struct SourceMemory {
    path: Option<PathBuf>,
    seen: Vec<Seen>,
    changed: bool,
}

impl SourceMemory {
    /// A memory that is never saved (actions disabled: nothing acts on it).
    pub fn in_memory() -> SourceMemory {
        SourceMemory::default()
    }

    /// Loads `dir/sources.json` (missing or unreadable: empty, with a
    /// warning; the next report refills it) and forgets what is too old.
    pub fn load(dir: &Path, now_ms: i64) -> SourceMemory {
        let path = dir.join("sources.json");
        let seen: Vec<Seen> = match std::fs::read(&path) {
            Ok(bytes) => serde_json::from_slice(&bytes).unwrap_or_else(|e| {
                tracing::warn!(path = %path.display(), error = %e, "the remembered sources do not decode; starting empty");
                Vec::new()
            }),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Vec::new(),
            Err(e) => {
                tracing::warn!(path = %path.display(), error = %e, "cannot read the remembered sources; starting empty");
                Vec::new()
            }
        };
        let mut memory = SourceMemory { path: Some(path), seen, changed: false };
        memory.bound(now_ms);
        memory
    }

    /// Notes `source` as reported at `now_ms`.
    pub fn note(&mut self, source: ReportedSource, now_ms: i64) {
        match self.seen.iter_mut().find(|s| s.source.kind == source.kind && s.source.id == source.id) {
            Some(seen) => {
                if seen.source != source || seen.seen_ms != now_ms {
                    seen.source = source;
                    seen.seen_ms = now_ms;
                    self.changed = true;
                }
            }
            None => {
                self.seen.push(Seen { source, seen_ms: now_ms });
                self.changed = true;
            }
        }
        self.bound(now_ms);
    }

    /// The remembered source of `kind` and `id`.
    pub fn contains(&self, kind: Option<SourceKind>, id: &str) -> bool {
        self.seen.iter().any(|s| s.source.kind == kind && s.source.id == id)
    }

    /// Every remembered source, most recently seen last.
    pub fn sources(&self) -> Vec<ReportedSource> {
        self.seen.iter().map(|s| s.source.clone()).collect()
    }

    /// Saves the memory when it changed (a temporary file renamed over the
    /// old one: a crash leaves the old or the new list, never half of one).
    pub fn save(&mut self) -> std::io::Result<()> {
        let Some(path) = &self.path else { return Ok(()) };
        if !self.changed {
            return Ok(());
        }
        let bytes = serde_json::to_vec(&self.seen).map_err(std::io::Error::other)?;
        let tmp = path.with_extension("json.tmp");
        std::fs::write(&tmp, bytes)?;
        std::fs::rename(&tmp, path)?;
        self.changed = false;
        Ok(())
    }

    fn bound(&mut self, now_ms: i64) {
        let before = self.seen.len();
        self.seen.retain(|s| s.seen_ms.saturating_add(MAX_AGE_MS) >= now_ms);
        self.seen.sort_by_key(|s| s.seen_ms);
        let excess = self.seen.len().saturating_sub(MAX_SOURCES);
        self.seen.drain(..excess);
        self.changed |= self.seen.len() != before;
    }
}
