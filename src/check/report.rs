//! The reporters of `seal check`: text for people (grouped by file, colour on a terminal),
//! JSON for tools, SARIF 2.1.0 for code scanning, and GitHub workflow annotations.
//! STUB: to be written.

use super::Report;

/// Output formats of `seal check`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum OutputFormat {
    /// Grouped by file, for people.
    #[default]
    Text,
    /// One JSON document.
    Json,
    /// SARIF 2.1.0.
    Sarif,
    /// GitHub Actions workflow commands (`::error file=…`).
    Github,
}

/// Options for the text reporter.
#[derive(Clone, Copy, Debug, Default)]
pub struct TextOptions {
    /// ANSI colours.
    pub color: bool,
    /// Also print info-level findings.
    pub verbose: bool,
}

/// Render `report` in `format`.
pub fn render(report: &Report, format: OutputFormat, text: TextOptions) -> String {
    let _ = (report, format, text);
    String::new()
}
