//! The terminal around a command: logs on stderr, output on stdout.

use std::io::IsTerminal;

use tracing_subscriber::EnvFilter;

/// The filter in the first of `vars` that is set and valid (e.g.
/// RBLFLEET_LOG, then RUST_LOG), else `default` (e.g. "info").
pub fn env_filter(vars: &[&str], default: &str) -> EnvFilter {
    vars.iter().find_map(|var| EnvFilter::try_from_env(var).ok()).unwrap_or_else(|| EnvFilter::new(default))
}

/// Logs to stderr through `filter`, in colour only when stderr is a
/// terminal (no escape codes in the journal or a redirected file) and
/// NO_COLOR is not set.
pub fn init_logging(filter: EnvFilter) {
    let colour = colour(std::io::stderr().is_terminal(), std::env::var_os("NO_COLOR"));
    tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr).with_ansi(colour).init();
}

/// Colour on a terminal unless NO_COLOR is set to anything non-empty
/// (<https://no-color.org>).
fn colour(is_terminal: bool, no_color: Option<std::ffi::OsString>) -> bool {
    is_terminal && no_color.is_none_or(|value| value.is_empty())
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
