#![allow(clippy::unwrap_used)]

use std::io;

use super::*;

#[derive(Debug, thiserror::Error)]
#[error("writing the report")]
struct Wrapped(#[source] io::Error);

#[test]
fn broken_pipe_is_found_anywhere_in_the_chain() {
    let bare = io::Error::from(io::ErrorKind::BrokenPipe);
    assert!(is_broken_pipe(&bare));
    assert!(is_broken_pipe(&Wrapped(io::Error::from(io::ErrorKind::BrokenPipe))));
}

#[test]
fn other_failures_are_not_a_broken_pipe() {
    assert!(!is_broken_pipe(&Wrapped(io::Error::from(io::ErrorKind::StorageFull))));
    assert!(!is_broken_pipe(&io::Error::other("no")));
}

#[test]
fn env_filter_takes_the_default_when_no_variable_is_set() {
    let filter = env_filter(&["RBLFLEET_SHELL_TEST_UNSET_VARIABLE"], "warn");
    assert_eq!(filter.to_string(), "warn");
}

#[test]
fn colour_only_on_a_terminal_without_no_color() {
    assert!(colour(true, None));
    assert!(colour(true, Some("".into())));
    assert!(!colour(true, Some("1".into())));
    assert!(!colour(false, None));
}
