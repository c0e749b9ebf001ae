//! The terminal around a command: logs on stderr, output on stdout.

use std::io::IsTerminal;
use std::sync::OnceLock;

use tracing_subscriber::EnvFilter;

/// The filter in the first of `vars` that is set and valid (e.g.
/// RBLFLEET_LOG, then RUST_LOG), else `default` (e.g. "info").
pub fn env_filter(vars: &[&str], default: &str) -> EnvFilter {
    vars.iter().find_map(|var| EnvFilter::try_from_env(var).ok()).unwrap_or_else(|| EnvFilter::new(default))
}

/// How log lines are written to stderr.
///
/// `text` is for people (and journald, which adds its own timestamp and
/// keeps the line as written); `json` is one object per line for a log
/// shipper (Loki, Elasticsearch, `jq`): `timestamp`, `level`, `target`,
/// `message` and every field of the event at the top level.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum LogFormat {
    /// One readable line per event; colour only on a terminal.
    #[default]
    Text,
    /// One JSON object per line, never coloured.
    Json,
}

/// Logs to stderr through `filter` in `format`. Text is in colour only
/// when stderr is a terminal (no escape codes in the journal or a
/// redirected file) and NO_COLOR is not set.
pub fn init_logging(filter: EnvFilter, format: LogFormat) {
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr);
    match format {
        LogFormat::Text => {
            let colour = colour(std::io::stderr().is_terminal(), std::env::var_os("NO_COLOR"));
            builder.with_ansi(colour).init();
        }
        // Flattened: `message` and the event's fields sit beside `level`,
        // where a shipper's field extraction looks for them.
        LogFormat::Json => builder.json().flatten_event(true).with_current_span(false).with_ansi(false).init(),
    }
}

/// What [`measure_stdout`] found; unset in a library or a test that runs
/// a command into a buffer.
static TABLE_WIDTH: OnceLock<Option<usize>> = OnceLock::new();

/// Measures stdout once for [`table_width`]. Only a binary's `main` calls
/// it: a command run into a buffer (tests, embedding) never wraps, whatever
/// terminal the test runner happens to sit in.
pub fn measure_stdout() {
    // A second call keeps the first measure: the terminal is the same.
    let _ = TABLE_WIDTH.set(stdout_width());
}

/// The width tables are laid out in: the terminal's when the binary's
/// stdout is one, else None (no wrapping).
pub fn table_width() -> Option<usize> {
    TABLE_WIDTH.get().copied().flatten()
}

/// The width to lay a table out in: the terminal's columns when stdout is
/// a terminal (else $COLUMNS, else 100), and None when stdout is a pipe
/// or a file, where nothing should wrap (a script or a pager gets whole
/// lines).
pub fn stdout_width() -> Option<usize> {
    let stdout = std::io::stdout();
    if !stdout.is_terminal() {
        return None;
    }
    #[cfg(unix)]
    let from_tty = rustix::termios::tcgetwinsize(&stdout).ok().map(|size| usize::from(size.ws_col));
    // rustix has no termios on Windows (the agent builds there): $COLUMNS or 100.
    #[cfg(not(unix))]
    let from_tty: Option<usize> = None;
    let from_env = || std::env::var("COLUMNS").ok().and_then(|c| c.trim().parse().ok());
    Some(from_tty.filter(|&w| w > 0).or_else(from_env).unwrap_or(100))
}

/// Colour on a terminal unless NO_COLOR is set to anything non-empty
/// (<https://no-color.org>).
fn colour(is_terminal: bool, no_color: Option<std::ffi::OsString>) -> bool {
    is_terminal && no_color.is_none_or(|value| value.is_empty())
}

/// `error` and its causes on one line ("transport error: Connection refused
/// (os error 111)"), skipping a cause whose text is already in the line.
pub fn error_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        let next = cause.to_string();
        if !text.contains(&next) {
            text = format!("{text}: {next}");
        }
        source = cause.source();
    }
    text
}

/// A write to a closed stdout somewhere in `error`'s chain: the output's
/// reader is gone (`… | head`), which is not a failure of the command.
pub fn is_broken_pipe(error: &(dyn std::error::Error + 'static)) -> bool {
    std::iter::successors(Some(error), |e| e.source())
        .filter_map(|cause| cause.downcast_ref::<std::io::Error>())
        .any(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
}

#[cfg(test)]
mod tests;
