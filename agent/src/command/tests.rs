#![allow(clippy::unwrap_used)]
#![cfg(unix)]

use super::*;
use crate::command::fake_tool::script;

fn lines_of(program: &Path, timeout: Duration) -> Result<Vec<String>, CommandError> {
    let mut got = Vec::new();
    run_lines(program, &["-j"], timeout, &mut |l| got.push(l.to_string()))?;
    Ok(got)
}

#[test]
fn output_lines_are_streamed() {
    let dir = tempfile::tempdir().unwrap();
    let tool = script(dir.path(), "tool", "printf 'one\\r\\ntwo\\n\\nlast-without-newline'\necho \"$1\" >&2");
    let got = lines_of(&tool, Duration::from_secs(10)).unwrap();
    assert_eq!(got, ["one", "two", "", "last-without-newline"]);
    let many = script(dir.path(), "many", "seq 1 100000");
    let mut n = 0u64;
    run_lines(&many, &[], Duration::from_secs(30), &mut |_| n += 1).unwrap();
    assert_eq!(n, 100_000);
}

#[test]
fn a_failing_tool_reports_its_status_and_first_stderr_line() {
    let dir = tempfile::tempdir().unwrap();
    let tool = script(
        dir.path(),
        "postqueue",
        "echo 'postqueue: fatal: Queue report unavailable - mail system is down' >&2\necho second >&2\nexit 69",
    );
    let err = lines_of(&tool, Duration::from_secs(10)).unwrap_err().to_string();
    assert!(err.contains("postqueue -j failed (exit status: 69)"), "{err}");
    assert!(err.ends_with(": postqueue: fatal: Queue report unavailable - mail system is down"), "{err}");
}

#[test]
fn a_missing_tool_is_not_found() {
    let dir = tempfile::tempdir().unwrap();
    let err = lines_of(&dir.path().join("postqueue"), Duration::from_secs(1)).unwrap_err();
    assert!(matches!(err, CommandError::NotFound { .. }), "{err}");
    assert!(err.to_string().ends_with("postqueue -j: not found"), "{err}");
}

#[test]
fn a_hanging_tool_is_killed_at_the_deadline() {
    let dir = tempfile::tempdir().unwrap();
    // Silent, and with a grandchild holding stdout open after the kill.
    for body in ["echo started\nexec sleep 30", "echo started\nsleep 30\necho never"] {
        let tool = script(dir.path(), "hang", body);
        let started = Instant::now();
        let mut got = Vec::new();
        let err = run_lines(&tool, &[], Duration::from_millis(300), &mut |l| got.push(l.to_string())).unwrap_err();
        assert!(started.elapsed() < Duration::from_secs(5), "took {:?}", started.elapsed());
        assert!(matches!(err, CommandError::Timeout { .. }), "{err}");
        assert!(err.to_string().contains("did not finish within 300ms"), "{err}");
        assert_eq!(got, ["started"]);
    }
}

#[test]
fn bounded_lines() {
    let mut input = std::io::Cursor::new(b"short\nxxxxxxxxxx\nend".to_vec());
    let mut line = Vec::new();
    assert!(read_line_bounded(&mut input, &mut line, 4).unwrap());
    assert_eq!(line, b"shor");
    assert!(read_line_bounded(&mut input, &mut line, 4).unwrap());
    assert_eq!(line, b"xxxx");
    assert!(read_line_bounded(&mut input, &mut line, 4).unwrap());
    assert_eq!(line, b"end");
    assert!(!read_line_bounded(&mut input, &mut line, 4).unwrap());
}
