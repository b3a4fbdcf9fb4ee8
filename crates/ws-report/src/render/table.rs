//! A Markdown table: header, alignment, rows.

/// Column alignment.
#[derive(Clone, Copy, Debug)]
pub enum Align {
    /// Text.
    Left,
    /// Numbers.
    Right,
}

/// A table being built.
#[derive(Debug)]
pub struct Table {
    header: Vec<(String, Align)>,
    rows: Vec<Vec<String>>,
}

impl Table {
    /// A table with these columns.
    #[must_use]
    pub fn new(columns: &[(&str, Align)]) -> Self {
        Self {
            header: columns.iter().map(|(h, a)| ((*h).to_owned(), *a)).collect(),
            rows: Vec::new(),
        }
    }

    /// Add a row (missing cells are left empty, extra ones dropped).
    pub fn row(&mut self, cells: Vec<String>) {
        self.rows.push(cells);
    }

    /// True when no row was added.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.rows.is_empty()
    }

    /// The Markdown text, ending with a newline.
    #[must_use]
    pub fn render(&self) -> String {
        let mut out = String::from("|");
        for (h, _) in &self.header {
            out.push_str(&format!(" {h} |"));
        }
        out.push_str("\n|");
        for (_, a) in &self.header {
            out.push_str(match a {
                Align::Left => "---|",
                Align::Right => "---:|",
            });
        }
        out.push('\n');
        for row in &self.rows {
            out.push('|');
            for i in 0..self.header.len() {
                let cell = row.get(i).map_or("", String::as_str).replace('|', "\\|");
                out.push_str(&format!(" {cell} |"));
            }
            out.push('\n');
        }
        out
    }
}

/// The row of `server` in rendered text, for tests: the line that starts
/// with its cell.
#[cfg(test)]
pub(crate) fn server_row<'t>(text: &'t str, server: &str) -> &'t str {
    text.lines()
        .find(|l| l.starts_with(&format!("| `{server}` |")))
        .unwrap_or_else(|| panic!("no row for {server} in {text}"))
}
