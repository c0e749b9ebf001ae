//! File-name patterns of dated log series (`SMTP-Activity-*.log`,
//! `mail.log-*`): a `logs.paths` entry whose *file name* holds `*` or `?`.
//!
//! Wildcards are accepted in the file name only. A directory pattern would
//! make the set of followed directories change under the agent and give two
//! files of the same date in different directories no order; MailEnable and
//! logrotate's `dateext` both keep a series in one directory.
//!
//! Files of a series are ordered by name: every dated naming in use
//! (`YYMMDD`, `YYYYMMDD`, `YYYY-MM-DD`) is fixed-width, so the name order is
//! the date order, and unlike modification times it survives a copy or a
//! restore. Compressed files (`.gz`, `.bz2`, `.xz`, `.zst`, `.zip`) never
//! match: a checkpoint cannot point into them. Matching ignores ASCII case on
//! Windows, whose file names do.

use std::path::{Component, Path, PathBuf};

/// Suffixes of compressed (already rotated and packed) files.
const COMPRESSED: [&str; 6] = [".gz", ".bz2", ".xz", ".zst", ".zip", ".z"];

/// Why a `logs.paths` pattern is not usable.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PatternError {
    /// `*` or `?` in a directory part.
    #[error("{path}: wildcards are allowed in the file name only, not in {component:?}")]
    WildcardDirectory {
        /// The configured entry.
        path: String,
        /// The directory component holding the wildcard.
        component: String,
    },
    /// The entry names no file (e.g. it ends in a separator).
    #[error("{path}: no file name")]
    NoFileName {
        /// The configured entry.
        path: String,
    },
}

/// A parsed series pattern: a directory and a file-name pattern.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FilePattern {
    path: PathBuf,
    dir: PathBuf,
    name: Vec<char>,
}

/// True when `path` holds a wildcard (`*` or `?`) in any normal component
/// (not in a Windows prefix such as `\\?\`).
pub fn is_pattern(path: &Path) -> bool {
    path.components().any(|c| match c {
        Component::Normal(s) => s.to_string_lossy().contains(['*', '?']),
        _ => false,
    })
}

impl FilePattern {
    /// Parses `path`; see the module documentation for what is accepted.
    pub fn parse(path: &Path) -> Result<FilePattern, PatternError> {
        let shown = || path.display().to_string();
        let name = path.file_name().ok_or_else(|| PatternError::NoFileName { path: shown() })?;
        let dir = path.parent().unwrap_or(Path::new(""));
        if let Some(component) = dir.components().find_map(|c| match c {
            Component::Normal(s) if s.to_string_lossy().contains(['*', '?']) => Some(s.to_string_lossy().into_owned()),
            _ => None,
        }) {
            return Err(PatternError::WildcardDirectory { path: shown(), component });
        }
        let dir = if dir.as_os_str().is_empty() { PathBuf::from(".") } else { dir.to_path_buf() };
        Ok(FilePattern { path: path.to_path_buf(), dir, name: fold(&name.to_string_lossy()) })
    }

    /// The configured entry.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The directory the series lives in.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// True when the file name `name` belongs to the series.
    pub fn matches(&self, name: &str) -> bool {
        let name = fold(name);
        let lower: String = name.iter().collect::<String>().to_ascii_lowercase();
        !COMPRESSED.iter().any(|suffix| lower.ends_with(suffix)) && wildcard(&self.name, &name)
    }

    /// The files of the series now, oldest (smallest name) first. A missing
    /// directory is an empty series: it may be created later.
    pub fn list(&self) -> std::io::Result<Vec<PathBuf>> {
        let entries = match std::fs::read_dir(&self.dir) {
            Ok(entries) => entries,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(e),
        };
        let mut found: Vec<(String, PathBuf)> = Vec::new();
        for entry in entries {
            let entry = entry?;
            let name = entry.file_name().to_string_lossy().into_owned();
            if self.matches(&name) && std::fs::metadata(entry.path()).is_ok_and(|m| m.is_file()) {
                found.push((sort_key(&name), entry.path()));
            }
        }
        found.sort();
        Ok(found.into_iter().map(|(_, path)| path).collect())
    }
}

/// The key files are ordered by: the name, case-folded where the platform's
/// names are case-insensitive.
pub(super) fn sort_key(name: &str) -> String {
    fold(name).into_iter().collect()
}

fn fold(name: &str) -> Vec<char> {
    if cfg!(windows) { name.chars().map(|c| c.to_ascii_lowercase()).collect() } else { name.chars().collect() }
}

/// `*` matches any run of characters (also none), `?` one character.
fn wildcard(pattern: &[char], text: &[char]) -> bool {
    let (mut p, mut t) = (0, 0);
    // Where the last `*` was, and the text position it was tried at.
    let mut star: Option<(usize, usize)> = None;
    while t < text.len() {
        match pattern.get(p) {
            Some('*') => {
                star = Some((p, t));
                p += 1;
            }
            Some(&c) if c == '?' || c == text[t] => {
                p += 1;
                t += 1;
            }
            _ => match star {
                Some((sp, st)) => {
                    p = sp + 1;
                    t = st + 1;
                    star = Some((sp, st + 1));
                }
                None => return false,
            },
        }
    }
    pattern[p..].iter().all(|&c| c == '*')
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    fn m(pattern: &str, name: &str) -> bool {
        FilePattern::parse(Path::new(pattern)).unwrap().matches(name)
    }

    #[test]
    fn wildcards_in_the_name() {
        assert!(m("/l/SMTP-Activity-*.log", "SMTP-Activity-261203.log"));
        assert!(!m("/l/SMTP-Activity-*.log", "SMTP-Debug-261203.log"));
        assert!(!m("/l/SMTP-Activity-*.log", "SMTP-Activity-261203.log.old"));
        assert!(m("/l/mail.log-*", "mail.log-20261204"));
        assert!(!m("/l/mail.log-*", "mail.log-20261204.gz"), "compressed files never match");
        assert!(!m("/l/mail.log-*", "mail.log"));
        assert!(m("/l/a?c*", "abc"));
        assert!(m("/l/*x*y", "axxby"));
        assert!(!m("/l/a?c", "ac"));
        assert_eq!(m("/l/smtp-activity-*.log", "SMTP-Activity-261203.log"), cfg!(windows));
    }

    #[test]
    fn wildcards_only_in_the_file_name() {
        assert!(is_pattern(Path::new("/var/log/mail.log-*")));
        assert!(!is_pattern(Path::new("/var/log/maillog")));
        let err = FilePattern::parse(Path::new("/var/*/mail.log")).unwrap_err();
        assert_eq!(err, PatternError::WildcardDirectory { path: "/var/*/mail.log".into(), component: "*".into() });
        assert!(err.to_string().contains("file name only"), "{err}");
    }

    #[test]
    fn lists_oldest_first_and_skips_others() {
        let dir = tempfile::tempdir().unwrap();
        for name in ["SMTP-Activity-261204.log", "SMTP-Activity-261203.log", "SMTP-Debug-261204.log", "x.gz"] {
            std::fs::write(dir.path().join(name), "x\n").unwrap();
        }
        std::fs::create_dir(dir.path().join("SMTP-Activity-dir.log")).unwrap();
        let pattern = FilePattern::parse(&dir.path().join("SMTP-Activity-*.log")).unwrap();
        let names: Vec<_> =
            pattern.list().unwrap().iter().map(|p| p.file_name().unwrap().to_string_lossy().into_owned()).collect();
        assert_eq!(names, ["SMTP-Activity-261203.log", "SMTP-Activity-261204.log"]);
        let missing = FilePattern::parse(&dir.path().join("nope").join("*.log")).unwrap();
        assert!(missing.list().unwrap().is_empty());
    }
}
