//! Tables that never cut a token in the middle.
//!
//! comfy-table wraps a cell at spaces, but a word longer than its column is
//! split anywhere: `b.barracudacentr` / `al.org`, `info@sh` / `op.example`.
//! An IP, a zone, a host name or an address cut like that can be neither
//! read nor copied. [`Grid`] gives every column without a constraint of its
//! own a lower bound of its longest token, so wrapping falls between words
//! only; when the tokens do not fit the terminal, the table grows wider than
//! the terminal rather than cutting one.
//!
//! Width: the terminal's when stdout is a terminal; no wrapping at all when
//! stdout is a pipe or a file (a script, `less -S` or `grep` gets whole rows).

use std::fmt;
use std::ops::{Deref, DerefMut};

use comfy_table::{ColumnConstraint, ContentArrangement, Table, Width, presets};

/// A comfy-table `Table` (everything a caller does to it goes through
/// `Deref`) laid out at display time, when the content is known.
#[derive(Debug, Clone)]
pub struct Grid {
    table: Table,
}

impl Grid {
    /// An empty table with `header`, plain text (no colour, no box drawing).
    pub fn new(header: &[&str]) -> Grid {
        let mut table = Table::new();
        table.load_preset(presets::NOTHING).set_header(header.iter().copied());
        Grid { table }
    }

    /// The table laid out for a terminal `width` columns wide, or with no
    /// wrapping at all for `None`.
    pub fn render(&self, width: Option<usize>) -> String {
        let mut table = self.table.clone();
        match width {
            None => {
                table.set_content_arrangement(ContentArrangement::Disabled);
            }
            Some(width) => {
                table.set_content_arrangement(ContentArrangement::Dynamic);
                table.set_width(u16::try_from(width).unwrap_or(u16::MAX));
                keep_tokens_whole(&mut table);
            }
        }
        table.to_string()
    }
}

impl Deref for Grid {
    type Target = Table;

    fn deref(&self) -> &Table {
        &self.table
    }
}

impl DerefMut for Grid {
    fn deref_mut(&mut self) -> &mut Table {
        &mut self.table
    }
}

/// Laid out for the binary's stdout (`rblfleet_shell::term::table_width`,
/// measured in `main`); unwrapped when run into a buffer.
impl fmt::Display for Grid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.render(rblfleet_shell::term::table_width()))
    }
}

/// Every column without a constraint gets its longest token (header
/// included) as its minimum width. Columns a caller fixed (`keep_width`)
/// keep their constraint.
fn keep_tokens_whole(table: &mut Table) {
    let mut longest: Vec<u16> = vec![0; table.column_count()];
    let header = table.header().map(|row| row.cell_iter().map(|c| c.content()).collect::<Vec<_>>());
    let rows = table.row_iter().map(|row| row.cell_iter().map(|c| c.content()).collect::<Vec<_>>());
    for cells in header.into_iter().chain(rows) {
        for (i, content) in cells.iter().enumerate() {
            if let Some(max) = longest.get_mut(i) {
                *max = (*max).max(longest_token(content));
            }
        }
    }
    for (i, min) in longest.into_iter().enumerate() {
        if let Some(column) = table.column_mut(i)
            && column.constraint().is_none()
            && min > 0
        {
            // comfy-table's bounds include the cell's padding.
            let min = min.saturating_add(column.padding_width());
            column.set_constraint(ColumnConstraint::LowerBoundary(Width::Fixed(min)));
        }
    }
}

/// The widest run between the spaces and line breaks comfy-table wraps at.
/// Counted in chars: the cells hold addresses, names and ASCII words (the
/// NAT arrow "→" is one column wide too).
fn longest_token(text: &str) -> u16 {
    let widest = text.split([' ', '\n']).map(|token| token.chars().count()).max().unwrap_or(0);
    u16::try_from(widest).unwrap_or(u16::MAX)
}

#[cfg(test)]
mod tests;
