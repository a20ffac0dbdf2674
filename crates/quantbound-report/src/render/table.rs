//! A Markdown table: a header, a rule, and rows of cells.

use std::fmt::Write as _;

pub(crate) struct Table {
    columns: usize,
    text: String,
}

impl Table {
    /// A table with these column headers.
    pub fn new<S: AsRef<str>>(header: &[S]) -> Self {
        let mut table = Table { columns: header.len(), text: String::new() };
        table.row(header);
        table.text.push('|');
        table.text.push_str(&"---|".repeat(header.len()));
        table.text.push('\n');
        table
    }

    /// Appends a row; it must have a cell per column.
    pub fn row<S: AsRef<str>>(&mut self, cells: &[S]) -> &mut Self {
        debug_assert_eq!(cells.len(), self.columns, "a cell per column");
        self.text.push('|');
        for cell in cells {
            let _ = write!(self.text, " {} |", cell.as_ref());
        }
        self.text.push('\n');
        self
    }

    /// The table's Markdown, ending in a newline.
    pub fn render(&self) -> &str {
        &self.text
    }
}
