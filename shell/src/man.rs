//! Manual pages generated from a clap definition, so `man rblfleet-ca-issue`
//! says exactly what `--help` says, environment variables included.

use std::io::Write;
use std::path::{Path, PathBuf};

/// Why the pages could not be written; the path is in the message, the
/// cause only in [`std::error::Error::source`].
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("creating {}", path.display())]
    Create { path: PathBuf, source: std::io::Error },
    #[error("writing {}", path.display())]
    Write { path: PathBuf, source: std::io::Error },
}

/// Renders the page of `command` alone (section 1, roff).
pub fn page(command: clap::Command, out: &mut dyn Write) -> std::io::Result<()> {
    clap_mangen::Man::new(command).render(out)
}

/// Writes one page per command and visible subcommand of `command` into
/// `dir` (created if missing), named by clap's display names
/// (`rblfleet-ca-issue.1`), and returns the files written, each command
/// before its subcommands.
pub fn write_pages(command: clap::Command, dir: &Path) -> Result<Vec<PathBuf>, Error> {
    std::fs::create_dir_all(dir).map_err(|source| Error::Create { path: dir.to_path_buf(), source })?;
    // Building fills in the display names that name the subcommands'
    // pages; the help subcommand gets no page.
    let mut command = command.disable_help_subcommand(true);
    command.build();
    let mut written = Vec::new();
    write_tree(command, dir, &mut written)?;
    Ok(written)
}

fn write_tree(command: clap::Command, dir: &Path, written: &mut Vec<PathBuf>) -> Result<(), Error> {
    let subcommands: Vec<clap::Command> = command.get_subcommands().filter(|c| !c.is_hide_set()).cloned().collect();
    let man = clap_mangen::Man::new(command);
    let path = dir.join(man.get_filename());
    let mut file = std::fs::File::create(&path).map_err(|source| Error::Create { path: path.clone(), source })?;
    if let Err(source) = man.render(&mut file).and_then(|()| file.flush()) {
        return Err(Error::Write { path, source });
    }
    written.push(path);
    for subcommand in subcommands {
        write_tree(subcommand, dir, written)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests;
