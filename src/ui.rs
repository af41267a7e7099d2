//! Terminal presentation: whether to colour (`--color`, `NO_COLOR`, is it a terminal), a
//! few styles, aligned columns, the global `--quiet`/`--verbose` level, and a progress bar
//! for repo-wide runs that appears on standard error only when the run takes over a second
//! and standard error is a terminal. Nothing here changes what is written to files or to a
//! pipe: piped output stays plain and identical.

use std::ffi::OsStr;
use std::io::IsTerminal;
use std::sync::atomic::{AtomicBool, AtomicU8, Ordering};
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

/// When to colour output (the values of a `--color` flag).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum ColorChoice {
    /// On a terminal, unless `NO_COLOR` is set to a non-empty value.
    #[default]
    Auto,
    /// Always, even when piped.
    Always,
    /// Never.
    Never,
}

/// The stream a piece of output goes to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Stream {
    /// Standard output.
    Stdout,
    /// Standard error.
    Stderr,
}

impl Stream {
    /// Whether the stream is a terminal.
    pub fn is_terminal(self) -> bool {
        match self {
            Stream::Stdout => std::io::stdout().is_terminal(),
            Stream::Stderr => std::io::stderr().is_terminal(),
        }
    }
}

/// The colour decision, without touching the process: `choice`, whether the stream is a
/// terminal, and the value of `NO_COLOR` (<https://no-color.org>: any non-empty value turns
/// colour off; `--color always` still wins, as the user asked for it explicitly).
pub fn color_wanted(choice: ColorChoice, is_terminal: bool, no_color: Option<&OsStr>) -> bool {
    match choice {
        ColorChoice::Always => true,
        ColorChoice::Never => false,
        ColorChoice::Auto => is_terminal && no_color.is_none_or(|v| v.is_empty()),
    }
}

/// The colour decision for `stream` in this process.
pub fn use_color(choice: ColorChoice, stream: Stream) -> bool {
    color_wanted(
        choice,
        stream.is_terminal(),
        std::env::var_os("NO_COLOR").as_deref(),
    )
}

/// Text styles: ANSI escapes when colour is on, the text unchanged when it is off.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Style {
    color: bool,
}

impl Style {
    /// Styles for `stream`, decided by [`use_color`] with `--color auto`.
    pub fn for_stream(stream: Stream) -> Style {
        Style {
            color: use_color(ColorChoice::Auto, stream),
        }
    }

    /// Styles with colour on or off.
    pub fn new(color: bool) -> Style {
        Style { color }
    }

    /// Whether colour is on.
    pub fn color(self) -> bool {
        self.color
    }

    fn paint(self, code: &str, text: &str) -> String {
        if self.color {
            format!("\x1b[{code}m{text}\x1b[0m")
        } else {
            text.to_string()
        }
    }

    /// Bold (headings, commands).
    pub fn bold(self, text: &str) -> String {
        self.paint("1", text)
    }

    /// Dim (secondary detail).
    pub fn dim(self, text: &str) -> String {
        self.paint("2", text)
    }

    /// Green (success).
    pub fn green(self, text: &str) -> String {
        self.paint("32", text)
    }

    /// Yellow (warnings, expected failures).
    pub fn yellow(self, text: &str) -> String {
        self.paint("33", text)
    }

    /// Red (errors).
    pub fn red(self, text: &str) -> String {
        self.paint("31", text)
    }

    /// Cyan (names, paths).
    pub fn cyan(self, text: &str) -> String {
        self.paint("36", text)
    }
}

/// Two columns, the first padded to its widest cell (counted in characters, so styles must
/// be applied after alignment), separated by two spaces; one line per row, each ending in
/// a newline.
pub fn align(rows: &[(String, String)]) -> String {
    let width = rows
        .iter()
        .map(|(a, _)| a.chars().count())
        .max()
        .unwrap_or(0);
    let mut out = String::new();
    for (a, b) in rows {
        let pad = width - a.chars().count();
        if b.is_empty() {
            out.push_str(a);
        } else {
            out.push_str(a);
            out.extend(std::iter::repeat_n(' ', pad + 2));
            out.push_str(b);
        }
        out.push('\n');
    }
    out
}

// ---------------------------------------------------------------------------------------
// Verbosity.

/// How much seal says beyond its results and errors (the global `--quiet`/`--verbose`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord)]
pub enum Verbosity {
    /// No progress bar, no narration; results and errors only.
    Quiet,
    /// The default.
    #[default]
    Normal,
    /// More detail where a command has some to give.
    Verbose,
}

impl Verbosity {
    /// From the two flags (`--quiet` wins when both are given).
    pub fn from_flags(quiet: bool, verbose: bool) -> Verbosity {
        if quiet {
            Verbosity::Quiet
        } else if verbose {
            Verbosity::Verbose
        } else {
            Verbosity::Normal
        }
    }
}

static VERBOSITY: AtomicU8 = AtomicU8::new(1);

/// Set the process-wide verbosity (once, from the command line).
pub fn set_verbosity(v: Verbosity) {
    let n = match v {
        Verbosity::Quiet => 0,
        Verbosity::Normal => 1,
        Verbosity::Verbose => 2,
    };
    VERBOSITY.store(n, Ordering::Relaxed);
}

/// The process-wide verbosity.
pub fn verbosity() -> Verbosity {
    match VERBOSITY.load(Ordering::Relaxed) {
        0 => Verbosity::Quiet,
        2 => Verbosity::Verbose,
        _ => Verbosity::Normal,
    }
}

// ---------------------------------------------------------------------------------------
// Progress.

/// A run shorter than this never shows a bar.
pub const PROGRESS_DELAY: Duration = Duration::from_secs(1);

/// A progress bar for `len` steps that stays invisible until [`PROGRESS_DELAY`] has passed,
/// and is only ever drawn on standard error when it is a terminal and seal is not quiet.
/// Safe to advance from many threads. It is cleared when finished or dropped, so it never
/// mixes with the report printed after it.
pub struct Progress {
    bar: Option<ProgressBar>,
    start: Instant,
    shown: AtomicBool,
}

impl Progress {
    /// A bar for `len` steps labelled `what` (e.g. "updatekeys"), for this process's stderr.
    pub fn new(len: usize, what: &str) -> Progress {
        let enabled = verbosity() != Verbosity::Quiet && Stream::Stderr.is_terminal();
        Progress::with(len, what, enabled)
    }

    /// A bar that never draws (for tests and for callers that know better).
    pub fn hidden() -> Progress {
        Progress::with(0, "", false)
    }

    fn with(len: usize, what: &str, enabled: bool) -> Progress {
        let bar = enabled.then(|| {
            let bar = ProgressBar::with_draw_target(
                Some(u64::try_from(len).unwrap_or(u64::MAX)),
                ProgressDrawTarget::hidden(),
            );
            if let Ok(style) =
                ProgressStyle::with_template("{prefix} [{bar:30}] {pos}/{len} files ({eta} left)")
            {
                bar.set_style(style.progress_chars("=> "));
            }
            bar.set_prefix(what.to_string());
            bar
        });
        Progress {
            bar,
            start: Instant::now(),
            shown: AtomicBool::new(false),
        }
    }

    /// One more step done.
    pub fn inc(&self) {
        let Some(bar) = &self.bar else { return };
        bar.inc(1);
        if self.start.elapsed() >= PROGRESS_DELAY
            && self
                .shown
                .compare_exchange(false, true, Ordering::Relaxed, Ordering::Relaxed)
                .is_ok()
        {
            bar.set_draw_target(ProgressDrawTarget::stderr());
        }
    }

    /// Whether the bar has been drawn (the run took longer than [`PROGRESS_DELAY`]).
    pub fn was_shown(&self) -> bool {
        self.shown.load(Ordering::Relaxed)
    }

    /// Remove the bar from the terminal.
    pub fn finish(&self) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
    }
}

impl Drop for Progress {
    fn drop(&mut self) {
        self.finish();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn color_decision_table() {
        let set = Some(OsStr::new("1"));
        let empty = Some(OsStr::new(""));
        // auto: a terminal without NO_COLOR only
        assert!(color_wanted(ColorChoice::Auto, true, None));
        assert!(color_wanted(ColorChoice::Auto, true, empty));
        assert!(!color_wanted(ColorChoice::Auto, true, set));
        assert!(!color_wanted(ColorChoice::Auto, false, None));
        // explicit choices win over both
        assert!(color_wanted(ColorChoice::Always, false, set));
        assert!(!color_wanted(ColorChoice::Never, true, None));
    }

    #[test]
    fn styles_are_plain_without_color() {
        let plain = Style::new(false);
        assert_eq!(plain.bold("x"), "x");
        assert_eq!(plain.red("err"), "err");
        let c = Style::new(true);
        assert_eq!(c.bold("x"), "\x1b[1mx\x1b[0m");
        assert_eq!(c.green("ok"), "\x1b[32mok\x1b[0m");
        assert!(c.color() && !plain.color());
    }

    #[test]
    fn align_pads_the_first_column() {
        let rows = vec![
            ("a".to_string(), "one".to_string()),
            ("longer".to_string(), "two".to_string()),
            ("é".to_string(), String::new()),
        ];
        assert_eq!(align(&rows), "a       one\nlonger  two\né\n");
        assert_eq!(align(&[]), "");
    }

    #[test]
    fn verbosity_from_flags() {
        assert_eq!(Verbosity::from_flags(false, false), Verbosity::Normal);
        assert_eq!(Verbosity::from_flags(true, false), Verbosity::Quiet);
        assert_eq!(Verbosity::from_flags(false, true), Verbosity::Verbose);
        assert_eq!(Verbosity::from_flags(true, true), Verbosity::Quiet);
        assert!(Verbosity::Quiet < Verbosity::Normal && Verbosity::Normal < Verbosity::Verbose);
    }

    #[test]
    fn hidden_progress_never_shows() {
        let p = Progress::hidden();
        for _ in 0..10 {
            p.inc();
        }
        assert!(!p.was_shown());
    }

    #[test]
    fn enabled_progress_shows_only_after_the_delay() {
        let p = Progress::with(3, "test", true);
        p.inc();
        assert!(!p.was_shown(), "a fast run must not draw a bar");
        std::thread::sleep(PROGRESS_DELAY + Duration::from_millis(20));
        p.inc();
        assert!(p.was_shown());
        p.finish();
    }

    proptest::proptest! {
        #[test]
        fn align_keeps_cells_and_aligns_second_column(
            rows in proptest::collection::vec(("[a-z]{0,8}", "[a-z]{1,8}"), 0..6)
        ) {
            let rows: Vec<(String, String)> = rows;
            let out = align(&rows);
            let lines: Vec<&str> = out.lines().collect();
            proptest::prop_assert_eq!(lines.len(), rows.len());
            let width = rows.iter().map(|(a, _)| a.len()).max().unwrap_or(0);
            for (line, (a, b)) in lines.iter().zip(&rows) {
                proptest::prop_assert!(line.starts_with(a.as_str()));
                proptest::prop_assert_eq!(line.get(width + 2..), Some(b.as_str()));
            }
        }
    }
}
