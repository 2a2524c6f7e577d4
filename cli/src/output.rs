//! Rendering: colour (on a terminal only, `NO_COLOR` honoured), aligned tables, and writing to
//! stdout and stderr. A closed stdout (`ledger log | head -1`) ends the command quietly; the
//! JSON documents themselves come from the application layer.

use std::io::{IsTerminal, Write};

use ledger_app::ledger::{DeployResult, EntryId};
use serde_json::Value;

use crate::error::CommandError;

#[derive(Clone, Copy)]
pub struct Style {
    colour: bool,
}

impl Style {
    /// Colour when stdout is a terminal and `NO_COLOR` is unset or empty.
    pub fn detect() -> Style {
        let no_colour = std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty());
        Style { colour: std::io::stdout().is_terminal() && !no_colour }
    }

    fn paint(self, code: &str, text: &str) -> String {
        if self.colour { format!("\x1b[{code}m{text}\x1b[0m") } else { text.to_string() }
    }

    pub fn bold(self, text: &str) -> String {
        self.paint("1", text)
    }

    pub fn warn(self, text: &str) -> String {
        self.paint("33", text)
    }

    /// A line of a unified diff: removed red, added green, hunk headers cyan, file headers bold.
    pub fn diff_line(self, line: &str) -> String {
        if line.starts_with("---") || line.starts_with("+++") {
            self.bold(line)
        } else if line.starts_with('-') {
            self.paint("31", line)
        } else if line.starts_with('+') {
            self.paint("32", line)
        } else if line.starts_with("@@") {
            self.paint("36", line)
        } else {
            line.to_string()
        }
    }

    /// A deployment result, coloured by how it went; `None` is "in flight".
    pub fn result(self, result: Option<DeployResult>) -> String {
        match result {
            Some(DeployResult::Succeeded) => self.paint("32", "succeeded"),
            Some(other @ (DeployResult::Failed | DeployResult::RolledBack)) => {
                self.paint("31", other.as_str())
            }
            Some(DeployResult::Submitted) => self.paint("33", "submitted"),
            None => self.paint("33", "in flight"),
        }
    }
}

/// Writes `text` to stdout. When the reader has gone, the command ends quietly (exit 0).
pub fn out(text: &str) -> Result<(), CommandError> {
    let mut stdout = std::io::stdout().lock();
    written(stdout.write_all(text.as_bytes()).and_then(|()| stdout.flush()))
}

/// How a write to stdout ended: when the reader has gone, the command ends quietly (exit 0).
pub fn written(result: std::io::Result<()>) -> Result<(), CommandError> {
    match result {
        Ok(()) => Ok(()),
        Err(error) if error.kind() == std::io::ErrorKind::BrokenPipe => Err(CommandError::ClosedPipe),
        Err(error) => Err(ledger_app::Error::failed(format!("cannot write the output: {error}")).into()),
    }
}

/// Writes `text` and a newline to stdout.
pub fn outln(text: &str) -> Result<(), CommandError> {
    out(&format!("{text}\n"))
}

/// Writes a JSON document, pretty-printed, to stdout.
pub fn print_json(value: &Value) -> Result<(), CommandError> {
    out(&json_text(value))
}

/// A JSON document, pretty-printed, with a newline.
pub fn json_text(value: &Value) -> String {
    format!("{}\n", serde_json::to_string_pretty(value).unwrap_or_default())
}

/// Writes a line to stderr; a closed stderr is ignored (there is nowhere left to say so).
pub fn note(line: &str) {
    let _ = writeln!(std::io::stderr().lock(), "{line}");
}

/// What a recording command says: its JSON document on stdout with `--output json`; otherwise
/// the new entry's id on stdout and what was done on stderr.
pub fn recorded(json_output: bool, document: &Value, id: &EntryId, done: &str) -> Result<(), CommandError> {
    if json_output {
        return print_json(document);
    }
    outln(&id.to_string())?;
    note(done);
    Ok(())
}

/// Left-aligned columns separated by two spaces; the last column is not padded.
pub fn table(rows: &[Vec<String>]) -> String {
    let mut out = String::new();
    write_table(&mut out, rows);
    out
}

/// [`table`], appended to `out`.
pub fn write_table(out: &mut String, rows: &[Vec<String>]) {
    let columns = rows.iter().map(Vec::len).max().unwrap_or(0);
    let widths: Vec<usize> = (0..columns)
        .map(|c| rows.iter().filter_map(|r| r.get(c)).map(|cell| visible_width(cell)).max().unwrap_or(0))
        .collect();
    for row in rows {
        let line_start = out.len();
        for (c, cell) in row.iter().enumerate() {
            out.push_str(cell);
            if c + 1 < row.len() {
                out.extend(std::iter::repeat_n(' ', widths[c] - visible_width(cell) + 2));
            }
        }
        let line_end = line_start + out[line_start..].trim_end().len();
        out.truncate(line_end);
        out.push('\n');
    }
}

/// Width on screen, not counting colour escapes.
fn visible_width(text: &str) -> usize {
    let mut width = 0;
    let mut in_escape = false;
    for c in text.chars() {
        match (in_escape, c) {
            (false, '\x1b') => in_escape = true,
            (true, 'm') => in_escape = false,
            (true, _) => {}
            (false, _) => width += 1,
        }
    }
    width
}

#[cfg(test)]
mod tests {
    use super::Style;

    #[test]
    fn diff_lines_are_coloured_by_kind_only_with_colour() {
        let colour = Style { colour: true };
        assert_eq!(colour.diff_line("-  \"memory\": \"1024\""), "\x1b[31m-  \"memory\": \"1024\"\x1b[0m");
        assert_eq!(colour.diff_line("+  \"memory\": \"512\""), "\x1b[32m+  \"memory\": \"512\"\x1b[0m");
        assert_eq!(colour.diff_line("@@ -1,5 +1,5 @@"), "\x1b[36m@@ -1,5 +1,5 @@\x1b[0m");
        assert_eq!(colour.diff_line("--- api:4"), "\x1b[1m--- api:4\x1b[0m");
        assert_eq!(colour.diff_line("   \"family\": \"api\","), "   \"family\": \"api\",");
        let plain = Style { colour: false };
        for line in ["-  \"memory\": \"1024\"", "+++ api (new revision)", "@@ -1 +1 @@"] {
            assert_eq!(plain.diff_line(line), line);
        }
    }
}
