//! `rblfleet-agent classify`: bounce replies on stdin to JSON lines.

use std::io::Write;

pub fn run(out: &mut dyn Write) -> anyhow::Result<()> {
    crate::bounce::classify_lines(std::io::stdin().lock(), out)?;
    Ok(())
}
