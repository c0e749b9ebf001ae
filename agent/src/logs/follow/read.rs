//! Reading a followed file: whole lines from where the last poll stopped,
//! cut to [`MAX_LINE`] bytes, each handed to the sink with its position.

use std::path::Path;

use super::MAX_LINE;
use super::file::OpenFile;
use crate::logs::{Line, LineAt, LogError, PollStats};

/// Hands out lines from `cur` until its end (true) or the budget (false).
pub(super) fn read_available(
    source: &Path,
    cur: &mut OpenFile,
    buf: &mut [u8],
    max_lines: usize,
    stats: &mut PollStats,
    sink: &mut dyn FnMut(&Line<'_>),
) -> Result<bool, LogError> {
    loop {
        if stats.lines >= max_lines {
            return Ok(false);
        }
        let offset = cur.read_pos();
        let n = cur.read_at(offset, buf)?;
        if n == 0 {
            return Ok(true);
        }
        let chunk = &buf[..n];
        cur.note_read(offset, chunk);
        let mut start = 0;
        if cur.skipping {
            // The rest of an overlong line already handed out, cut.
            let Some(i) = chunk.iter().position(|&b| b == b'\n') else {
                cur.pos += n as u64;
                stats.bytes += n as u64;
                continue;
            };
            cur.pos += (i + 1) as u64;
            stats.bytes += (i + 1) as u64;
            cur.skipping = false;
            start = i + 1;
        }
        while let Some(i) = chunk[start..].iter().position(|&b| b == b'\n') {
            let end = start + i;
            let used = (cur.pending.len() + i + 1) as u64;
            if cur.pending.is_empty() {
                let (line, truncated) = cut(&chunk[start..end]);
                emit(source, cur, line, used, truncated, stats, sink);
            } else {
                let mut line = std::mem::take(&mut cur.pending);
                line.extend_from_slice(&chunk[start..end]);
                let (text, truncated) = cut(&line);
                emit(source, cur, text, used, truncated, stats, sink);
                line.clear();
                cur.pending = line;
            }
            cur.pos += used;
            start = end + 1;
            // The rest of the chunk is read again by the next poll.
            if stats.lines >= max_lines {
                return Ok(false);
            }
        }
        let rest = &chunk[start..];
        let room = MAX_LINE - cur.pending.len();
        if rest.len() <= room {
            cur.pending.extend_from_slice(rest);
        } else {
            // An overlong line: hand out its first MAX_LINE bytes, skip the rest.
            cur.pending.extend_from_slice(&rest[..room]);
            let piece = std::mem::take(&mut cur.pending);
            emit(source, cur, &piece, piece.len() as u64, true, stats, sink);
            cur.pos += piece.len() as u64;
            cur.skipping = true;
        }
    }
}

/// `line` cut to [`MAX_LINE`] bytes, and whether it was cut (a line that
/// ends in the chunk it began in never went through `pending`).
fn cut(line: &[u8]) -> (&[u8], bool) {
    match line.get(..MAX_LINE) {
        Some(head) if line.len() > MAX_LINE => (head, true),
        _ => (line, false),
    }
}

/// Hands out the rest of a file that is finished (rotated away, or an older
/// file of a dated series): its lines, then an unfinished last line as it
/// is. True when all of it went out, false when the budget ran out first.
pub(super) fn read_to_end(
    source: &Path,
    cur: &mut OpenFile,
    buf: &mut [u8],
    max_lines: usize,
    stats: &mut PollStats,
    sink: &mut dyn FnMut(&Line<'_>),
) -> Result<bool, LogError> {
    if !read_available(source, cur, buf, max_lines, stats, sink)? {
        return Ok(false);
    }
    if !cur.pending.is_empty() {
        if stats.lines >= max_lines {
            return Ok(false);
        }
        let tail = std::mem::take(&mut cur.pending);
        emit(source, cur, &tail, tail.len() as u64, false, stats, sink);
        cur.pos += tail.len() as u64;
    }
    Ok(true)
}

/// Hands one line (without its line end) that starts at `cur.pos` to the sink.
pub(super) fn emit(
    source: &Path,
    cur: &OpenFile,
    line: &[u8],
    used: u64,
    truncated: bool,
    stats: &mut PollStats,
    sink: &mut dyn FnMut(&Line<'_>),
) {
    let line = line.strip_suffix(b"\r").unwrap_or(line);
    let text = String::from_utf8_lossy(line);
    // A byte cut inside a character decodes to a replacement character,
    // which may take the text past MAX_LINE: cut again, at a boundary.
    let (text, _) = crate::logs::guard::cut(&text);
    sink(&Line {
        text,
        source,
        file: &cur.name,
        at: Some(LineAt { dev: cur.id.dev, ino: cur.id.ino, offset: cur.pos }),
        truncated,
    });
    stats.lines += 1;
    stats.bytes += used;
    stats.truncated += u64::from(truncated);
}
