//! The reporters of `seal check`: text for people (grouped by file, colour on a terminal),
//! JSON for tools, SARIF 2.1.0 for code scanning, and GitHub workflow annotations. They only
//! format what the scanner found: every string they print comes from a [`Finding`], the
//! [`Summary`] or the rule table, with control characters made visible so that a hostile
//! file name or message cannot inject terminal escapes or workflow commands.

use std::fmt::Write as _;

use serde_json::{Map, Value, json};
use sha2::{Digest, Sha256};

use super::{Allowed, Finding, Report, Rule, Severity, Summary};

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

/// Options for the reporters. `color` applies to `text` only; `verbose` decides whether
/// info-level findings are shown by `text`, `github` and `sarif` (they are always counted,
/// and `json` always lists them).
#[derive(Clone, Copy, Debug, Default)]
pub struct TextOptions {
    /// ANSI colours.
    pub color: bool,
    /// Also print info-level findings.
    pub verbose: bool,
}

/// Render `report` in `format`. The result ends with a newline.
pub fn render(report: &Report, format: OutputFormat, text: TextOptions) -> String {
    match format {
        OutputFormat::Text => render_text(report, text),
        OutputFormat::Json => render_json(report),
        OutputFormat::Sarif => render_sarif(report, text.verbose),
        OutputFormat::Github => render_github(report, text.verbose),
    }
}

/// How a finding of `rule` is usually rated (SARIF `defaultConfiguration.level`, docs). The
/// scanner may rate a single finding differently (e.g. `parse-error` is an error in a file
/// that a creation rule covers, `recipient-drift` is an error under `--strict`).
pub fn default_severity(rule: Rule) -> Severity {
    match rule {
        Rule::RecipientDrift
        | Rule::CredentialValue
        | Rule::ParseError
        | Rule::NarrowSelector
        | Rule::BadSecretValue => Severity::Warning,
        Rule::PlainManifest => Severity::Info,
        Rule::PlaintextSecret
        | Rule::LastAppliedSecret
        | Rule::UnencryptedFile
        | Rule::PlaintextValue
        | Rule::BrokenMetadata
        | Rule::BadEncValue
        | Rule::MissingRecipient
        | Rule::PrivateKey
        | Rule::ConfigError => Severity::Error,
    }
}

/// How to fix a finding of `rule`, in a sentence or two (SARIF `help`, docs).
pub fn rule_help(rule: Rule) -> &'static str {
    match rule {
        Rule::PlaintextSecret => {
            "Encrypt the file (seal encrypt -i FILE) before committing it, and rotate the \
             values if they were ever pushed. Empty strings and nulls are fine."
        }
        Rule::LastAppliedSecret => {
            "Remove the kubectl.kubernetes.io/last-applied-configuration annotation from the \
             committed Secret (it copies every value), then encrypt the file."
        }
        Rule::UnencryptedFile => {
            "Encrypt the file with seal encrypt -i FILE, or narrow the creation rule's \
             path_regex in .sops.yaml if the file is not meant to be secret."
        }
        Rule::PlaintextValue => {
            "Encrypt the file again (seal encrypt -i after decrypting it, or seal edit) so \
             that every value the rule's selectors cover is an ENC[...] value."
        }
        Rule::BrokenMetadata => {
            "Restore the sops metadata from version control; a file whose MAC, version or \
             lastmodified is missing or malformed cannot be trusted or decrypted."
        }
        Rule::BadEncValue => {
            "Restore the value from version control or set it again with seal set; a \
             malformed ENC[...] value cannot be decrypted."
        }
        Rule::RecipientDrift => {
            "Run seal updatekeys FILE so that the file's recipients match its .sops.yaml \
             creation rule."
        }
        Rule::MissingRecipient => {
            "Add the recipient to the file's creation rule in .sops.yaml and run seal \
             updatekeys FILE."
        }
        Rule::PrivateKey => {
            "Remove the key from the repository and its history, and replace it: a \
             committed private key must be treated as leaked."
        }
        Rule::CredentialValue => {
            "Encrypt the file, or move the value to an encrypted file, or allow it inline \
             with # seal:allow credential-value REASON if it is not a secret."
        }
        Rule::ParseError => {
            "Fix the syntax, or list the file in .sealignore if it is a template that is \
             not meant to parse."
        }
        Rule::PlainManifest => {
            "Nothing to do if the object holds no secrets; narrow the creation rule's \
             path_regex to silence this."
        }
        Rule::ConfigError => "Fix .sops.yaml; seal check cannot apply its rules until it parses.",
        Rule::NarrowSelector => {
            "Re-encrypt the file with its creation rule's selector (or seal's Kubernetes \
             default, encrypted_regex ^(data|stringData)$, for Secrets): decrypt it and run \
             seal encrypt -i FILE, so that values added later are encrypted too."
        }
        Rule::BadSecretValue => {
            "Quote stringData values so they are strings, and write data values as base64 \
             (or move them to stringData); Kubernetes rejects the Secret otherwise."
        }
    }
}

// ---------------------------------------------------------------------------------------
// Shared helpers

/// Findings and allowed findings in report order: path, line, column, rule.
fn sorted<'a, T>(items: impl IntoIterator<Item = &'a T>, key: impl Fn(&T) -> &Finding) -> Vec<&'a T>
where
    T: 'a,
{
    let mut v: Vec<&T> = items.into_iter().collect();
    v.sort_by(|a, b| {
        let (a, b) = (key(a), key(b));
        (&a.path, a.line, a.column, a.rule).cmp(&(&b.path, b.line, b.column, b.rule))
    });
    v
}

fn visible(f: &Finding, verbose: bool) -> bool {
    verbose || f.severity != Severity::Info
}

/// `s` with every control character (newline, ESC, …) written as `\u{..}`, so one value is
/// one line and cannot drive the terminal.
fn printable(s: &str) -> String {
    if !s.chars().any(char::is_control) {
        return s.to_string();
    }
    let mut out = String::with_capacity(s.len() + 8);
    for c in s.chars() {
        if c.is_control() {
            let _ = write!(out, "\\u{{{:x}}}", u32::from(c));
        } else {
            out.push(c);
        }
    }
    out
}

fn plural(n: usize, one: &str, many: &str) -> String {
    if n == 1 {
        format!("{n} {one}")
    } else {
        format!("{n} {many}")
    }
}

fn location(f: &Finding) -> String {
    match (f.line, f.column) {
        (0, _) => "-".to_string(),
        (l, 0) => l.to_string(),
        (l, c) => format!("{l}:{c}"),
    }
}

// ---------------------------------------------------------------------------------------
// Text

struct Paint(bool);

impl Paint {
    fn wrap(&self, code: &str, s: &str) -> String {
        if self.0 {
            format!("\x1b[{code}m{s}\x1b[0m")
        } else {
            s.to_string()
        }
    }
    fn severity(&self, sev: Severity, s: &str) -> String {
        match sev {
            Severity::Error => self.wrap("31", s),
            Severity::Warning => self.wrap("33", s),
            Severity::Info => self.wrap("2", s),
        }
    }
    fn bold(&self, s: &str) -> String {
        self.wrap("1", s)
    }
}

fn render_text(report: &Report, opts: TextOptions) -> String {
    let paint = Paint(opts.color);
    let mut out = String::new();
    let shown: Vec<&Finding> = sorted(&report.findings, |f| f)
        .into_iter()
        .filter(|f| visible(f, opts.verbose))
        .collect();

    let loc_w = shown.iter().map(|f| location(f).len()).max().unwrap_or(0);
    let sev_w = shown
        .iter()
        .map(|f| f.severity.name().len())
        .max()
        .unwrap_or(0);
    let rule_w = shown.iter().map(|f| f.rule.id().len()).max().unwrap_or(0);
    // "  " + loc + "  " + severity + "  " + rule + "  "
    let hint_indent = 2 + loc_w + 2 + sev_w + 2 + rule_w + 2;

    let mut current: Option<&str> = None;
    for f in &shown {
        if current != Some(f.path.as_str()) {
            if current.is_some() {
                out.push('\n');
            }
            out.push_str(&paint.bold(&printable(&f.path)));
            out.push('\n');
            current = Some(f.path.as_str());
        }
        let sev = format!("{:<sev_w$}", f.severity.name());
        let _ = writeln!(
            out,
            "  {:>loc_w$}  {}  {:<rule_w$}  {}",
            location(f),
            paint.severity(f.severity, &sev),
            f.rule.id(),
            printable(&f.message),
        );
        if !f.hint.is_empty() {
            let _ = writeln!(
                out,
                "{:hint_indent$}{}",
                "",
                paint.wrap("2", &format!("hint: {}", printable(&f.hint)))
            );
        }
    }
    if !shown.is_empty() {
        out.push('\n');
    }
    summary_text(report, opts.verbose, &paint, &mut out);
    out
}

/// The summary block shared by the text and GitHub reporters: counts, then every skipped,
/// ignored, allowed or unreadable path, so nothing is hidden silently.
fn summary_text(report: &Report, verbose: bool, paint: &Paint, out: &mut String) {
    let s = &report.summary;
    let (errors, warnings, infos) = (
        report.count(Severity::Error),
        report.count(Severity::Warning),
        report.count(Severity::Info),
    );
    let files = format!(
        "{}, {}",
        plural(s.files_checked, "file", "files"),
        plural(s.sops_files, "sops file", "sops files")
    );
    if report.findings.is_empty() {
        let _ = writeln!(out, "seal check: {files}, no findings.");
    } else {
        let mut info = paint_count(paint, Severity::Info, infos, "info", "info");
        if infos > 0 && !verbose {
            info.push_str(" (not shown; --verbose shows them)");
        }
        let counts = [
            paint_count(paint, Severity::Error, errors, "error", "errors"),
            paint_count(paint, Severity::Warning, warnings, "warning", "warnings"),
            info,
        ];
        let _ = writeln!(out, "seal check: {files}: {}.", counts.join(", "));
    }
    if s.skipped_binary + s.skipped_large + s.skipped_symlinks > 0 {
        let _ = writeln!(
            out,
            "skipped: {} binary, {} larger than 10 MB, {}",
            s.skipped_binary,
            s.skipped_large,
            plural(s.skipped_symlinks, "symlink", "symlinks")
        );
    }
    if !s.ignored.is_empty() {
        let _ = writeln!(out, "ignored by .sealignore ({}):", s.ignored.len());
        for p in &s.ignored {
            let _ = writeln!(out, "  {}", printable(p));
        }
    }
    if !s.allowed.is_empty() {
        let _ = writeln!(out, "allowed inline ({}):", s.allowed.len());
        let allowed = sorted(&s.allowed, |a| &a.finding);
        let at: Vec<String> = allowed
            .iter()
            .map(|a| match a.finding.line {
                0 => printable(&a.finding.path),
                line => format!("{}:{line}", printable(&a.finding.path)),
            })
            .collect();
        let at_w = at.iter().map(|s| s.chars().count()).max().unwrap_or(0);
        let rule_w = allowed
            .iter()
            .map(|a| a.finding.rule.id().len())
            .max()
            .unwrap_or(0);
        for (a, at) in allowed.iter().zip(&at) {
            let pad = at_w - at.chars().count();
            let reason = if a.reason.is_empty() {
                "(no reason given)".to_string()
            } else {
                printable(&a.reason)
            };
            let line = format!(
                "  {at}{:pad$}  {:<rule_w$}  {reason}",
                "",
                a.finding.rule.id()
            );
            let _ = writeln!(out, "{}", line.trim_end());
        }
    }
    if !s.unreadable.is_empty() {
        let _ = writeln!(
            out,
            "{} ({}): seal check fails, since an unread file may hold a secret:",
            paint.severity(Severity::Error, "could not read"),
            s.unreadable.len()
        );
        for (p, why) in &s.unreadable {
            let _ = writeln!(out, "  {}: {}", printable(p), printable(why));
        }
    }
}

fn paint_count(paint: &Paint, sev: Severity, n: usize, one: &str, many: &str) -> String {
    let s = plural(n, one, many);
    if n > 0 { paint.severity(sev, &s) } else { s }
}

// ---------------------------------------------------------------------------------------
// JSON

fn finding_json(f: &Finding) -> Map<String, Value> {
    let mut m = Map::new();
    m.insert("path".into(), json!(f.path));
    m.insert("line".into(), json!(f.line));
    m.insert("column".into(), json!(f.column));
    m.insert("rule".into(), json!(f.rule.id()));
    m.insert("severity".into(), json!(f.severity.name()));
    m.insert("message".into(), json!(f.message));
    m.insert("hint".into(), json!(f.hint));
    m
}

fn summary_json(report: &Report) -> Value {
    let s: &Summary = &report.summary;
    json!({
        "files_checked": s.files_checked,
        "sops_files": s.sops_files,
        "errors": report.count(Severity::Error),
        "warnings": report.count(Severity::Warning),
        "info": report.count(Severity::Info),
        "allowed": s.allowed.len(),
        "skipped_binary": s.skipped_binary,
        "skipped_large": s.skipped_large,
        "skipped_symlinks": s.skipped_symlinks,
        "ignored": s.ignored,
        "unreadable": s.unreadable.iter()
            .map(|(p, why)| json!({"path": p, "reason": why}))
            .collect::<Vec<_>>(),
    })
}

fn render_json(report: &Report) -> String {
    let findings: Vec<Value> = sorted(&report.findings, |f| f)
        .into_iter()
        .map(|f| Value::Object(finding_json(f)))
        .collect();
    let allowed: Vec<Value> = sorted(&report.summary.allowed, |a: &Allowed| &a.finding)
        .into_iter()
        .map(|a| {
            let mut m = finding_json(&a.finding);
            m.insert("reason".into(), json!(a.reason));
            Value::Object(m)
        })
        .collect();
    let doc = json!({
        "version": 1,
        "findings": findings,
        "allowed": allowed,
        "summary": summary_json(report),
    });
    to_text(&doc)
}

fn to_text(doc: &Value) -> String {
    // Serialising a `Value` cannot fail (all keys are strings).
    let mut s = serde_json::to_string_pretty(doc).unwrap_or_default();
    s.push('\n');
    s
}

// ---------------------------------------------------------------------------------------
// SARIF 2.1.0

/// The `$schema` of the SARIF documents seal writes.
const SARIF_SCHEMA: &str =
    "https://docs.oasis-open.org/sarif/sarif/v2.1.0/errata01/os/schemas/sarif-schema-2.1.0.json";

fn sarif_level(sev: Severity) -> &'static str {
    match sev {
        Severity::Error => "error",
        Severity::Warning => "warning",
        Severity::Info => "note",
    }
}

/// The project's home page, when Cargo.toml names one (`homepage`, else `repository`).
fn information_uri() -> Option<&'static str> {
    [env!("CARGO_PKG_HOMEPAGE"), env!("CARGO_PKG_REPOSITORY")]
        .into_iter()
        .find(|u| !u.is_empty())
}

/// A path as a URI reference: relative paths stay relative (to `%SRCROOT%`), absolute ones
/// become `file://` URIs; everything but unreserved characters and `/` is percent-encoded.
fn path_uri(path: &str) -> (String, bool) {
    let mut enc = String::with_capacity(path.len());
    for b in path.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~' | b'/') {
            enc.push(char::from(b));
        } else {
            let _ = write!(enc, "%{b:02X}");
        }
    }
    if path.starts_with('/') {
        (format!("file://{enc}"), false)
    } else {
        (enc, true)
    }
}

fn artifact_location(path: &str) -> Value {
    let (uri, relative) = path_uri(path);
    if relative {
        json!({"uri": uri, "uriBaseId": "%SRCROOT%"})
    } else {
        json!({"uri": uri})
    }
}

/// A hash of what the finding is about (rule, file, message: never a value, never the line,
/// so that moving a finding does not make it a new alert).
fn fingerprint(f: &Finding) -> String {
    let mut h = Sha256::new();
    for part in [f.rule.id(), f.path.as_str(), f.message.as_str()] {
        h.update(part.as_bytes());
        h.update([0u8]);
    }
    let mut hex = String::with_capacity(64);
    for b in h.finalize() {
        let _ = write!(hex, "{b:02x}");
    }
    hex
}

fn rule_index(rule: Rule) -> usize {
    Rule::ALL.iter().position(|r| *r == rule).unwrap_or(0)
}

fn message_with_hint(f: &Finding) -> String {
    if f.hint.is_empty() {
        f.message.clone()
    } else {
        format!("{} (hint: {})", f.message, f.hint)
    }
}

fn sarif_result(f: &Finding, allowed: Option<&str>) -> Value {
    let mut physical = Map::new();
    physical.insert("artifactLocation".into(), artifact_location(&f.path));
    if f.line > 0 {
        let mut region = Map::new();
        region.insert("startLine".into(), json!(f.line));
        if f.column > 0 {
            region.insert("startColumn".into(), json!(f.column));
        }
        physical.insert("region".into(), Value::Object(region));
    }
    let mut r = Map::new();
    r.insert("ruleId".into(), json!(f.rule.id()));
    r.insert("ruleIndex".into(), json!(rule_index(f.rule)));
    r.insert("level".into(), json!(sarif_level(f.severity)));
    r.insert("message".into(), json!({"text": message_with_hint(f)}));
    r.insert(
        "locations".into(),
        json!([{"physicalLocation": Value::Object(physical)}]),
    );
    r.insert(
        "partialFingerprints".into(),
        json!({"sealFindingHash/v1": fingerprint(f)}),
    );
    if let Some(reason) = allowed {
        let mut s = Map::new();
        s.insert("kind".into(), json!("inSource"));
        if !reason.is_empty() {
            s.insert("justification".into(), json!(reason));
        }
        r.insert("suppressions".into(), json!([Value::Object(s)]));
    }
    Value::Object(r)
}

fn render_sarif(report: &Report, verbose: bool) -> String {
    let rules: Vec<Value> = Rule::ALL
        .iter()
        .map(|r| {
            json!({
                "id": r.id(),
                "shortDescription": {"text": r.description()},
                "help": {"text": rule_help(*r)},
                "defaultConfiguration": {"level": sarif_level(default_severity(*r))},
            })
        })
        .collect();
    let mut driver = Map::new();
    driver.insert("name".into(), json!("seal"));
    if let Some(uri) = information_uri() {
        driver.insert("informationUri".into(), json!(uri));
    }
    driver.insert("version".into(), json!(env!("CARGO_PKG_VERSION")));
    driver.insert("semanticVersion".into(), json!(env!("CARGO_PKG_VERSION")));
    driver.insert("rules".into(), json!(rules));

    // Findings and allowed findings in one order, so the document is stable.
    let mut all: Vec<(&Finding, Option<&str>)> = report
        .findings
        .iter()
        .filter(|f| visible(f, verbose))
        .map(|f| (f, None))
        .chain(
            report
                .summary
                .allowed
                .iter()
                .map(|a| (&a.finding, Some(a.reason.as_str()))),
        )
        .collect();
    all.sort_by(|(a, x), (b, y)| {
        (&a.path, a.line, a.column, a.rule, x.is_some()).cmp(&(
            &b.path,
            b.line,
            b.column,
            b.rule,
            y.is_some(),
        ))
    });
    let results: Vec<Value> = all.iter().map(|(f, a)| sarif_result(f, *a)).collect();

    let s = &report.summary;
    let notifications: Vec<Value> = s
        .unreadable
        .iter()
        .map(|(p, why)| {
            json!({
                "level": "error",
                "message": {"text": format!("could not read {p}: {why}")},
                "locations": [{"physicalLocation": {"artifactLocation": artifact_location(p)}}],
            })
        })
        .collect();
    let mut invocation = Map::new();
    invocation.insert("executionSuccessful".into(), json!(s.unreadable.is_empty()));
    if !notifications.is_empty() {
        invocation.insert("toolExecutionNotifications".into(), json!(notifications));
    }

    let doc = json!({
        "$schema": SARIF_SCHEMA,
        "version": "2.1.0",
        "runs": [{
            "tool": {"driver": Value::Object(driver)},
            "invocations": [Value::Object(invocation)],
            "columnKind": "unicodeCodePoints",
            "results": results,
            "properties": {
                "filesChecked": s.files_checked,
                "sopsFiles": s.sops_files,
                "skippedBinary": s.skipped_binary,
                "skippedLarge": s.skipped_large,
                "skippedSymlinks": s.skipped_symlinks,
                "ignored": s.ignored,
            },
        }],
    });
    to_text(&doc)
}

// ---------------------------------------------------------------------------------------
// GitHub workflow commands

/// Escape a workflow command's message: `%`, CR and LF.
fn gh_data(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '%' => out.push_str("%25"),
            '\r' => out.push_str("%0D"),
            '\n' => out.push_str("%0A"),
            c if c.is_control() => {
                let _ = write!(out, "\\u{{{:x}}}", u32::from(c));
            }
            c => out.push(c),
        }
    }
    out
}

/// Escape a workflow command's property value: as a message, plus `:` and `,`.
fn gh_property(s: &str) -> String {
    gh_data(s).replace(':', "%3A").replace(',', "%2C")
}

fn gh_command(sev: Severity) -> &'static str {
    match sev {
        Severity::Error => "error",
        Severity::Warning => "warning",
        Severity::Info => "notice",
    }
}

fn render_github(report: &Report, verbose: bool) -> String {
    let mut out = String::new();
    for f in sorted(&report.findings, |f| f) {
        if !visible(f, verbose) {
            continue;
        }
        let mut props = format!("file={}", gh_property(&f.path));
        if f.line > 0 {
            let _ = write!(props, ",line={}", f.line);
            if f.column > 0 {
                let _ = write!(props, ",col={}", f.column);
            }
        }
        let _ = write!(props, ",title={}", gh_property(f.rule.id()));
        let _ = writeln!(
            out,
            "::{} {props}::{}",
            gh_command(f.severity),
            gh_data(&message_with_hint(f))
        );
    }
    for (p, why) in &report.summary.unreadable {
        let _ = writeln!(
            out,
            "::error file={},title=unreadable::{}",
            gh_property(p),
            gh_data(&format!("seal check could not read this path: {why}"))
        );
    }
    // The summary as plain log lines; `printable` already keeps each value on one line, and
    // a line that starts with `::` is escaped so it cannot be read as a command.
    let mut summary = String::new();
    summary_text(report, verbose, &Paint(false), &mut summary);
    for line in summary.lines() {
        if line.trim_start().starts_with("::") {
            let _ = writeln!(out, "{}", line.replacen("::", "%3A%3A", 1));
        } else {
            let _ = writeln!(out, "{line}");
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn finding(path: &str, line: usize, rule: Rule, severity: Severity) -> Finding {
        Finding {
            path: path.to_string(),
            line,
            column: if line > 0 { 3 } else { 0 },
            rule,
            severity,
            message: format!("{} in {path}", rule.id()),
            hint: "do the thing".to_string(),
        }
    }

    fn sample() -> Report {
        Report {
            findings: vec![
                finding("b/secret.yaml", 12, Rule::PlaintextSecret, Severity::Error),
                finding("a/x.yaml", 0, Rule::RecipientDrift, Severity::Warning),
                finding("b/secret.yaml", 3, Rule::PrivateKey, Severity::Error),
                finding("a/cm.yaml", 1, Rule::PlainManifest, Severity::Info),
            ],
            summary: Summary {
                files_checked: 42,
                sops_files: 7,
                skipped_binary: 1,
                skipped_large: 0,
                skipped_symlinks: 2,
                ignored: vec!["vendor/chart.yaml".into()],
                allowed: vec![Allowed {
                    finding: finding("c/test.env", 4, Rule::CredentialValue, Severity::Warning),
                    reason: "test fixture".into(),
                }],
                unreadable: vec![("locked/".into(), "permission denied".into())],
            },
        }
    }

    fn text(report: &Report, color: bool, verbose: bool) -> String {
        render(report, OutputFormat::Text, TextOptions { color, verbose })
    }

    #[test]
    fn text_groups_by_file_in_order_and_aligns() {
        let out = text(&sample(), false, false);
        let a = out.find("a/x.yaml\n").expect("a/x.yaml heading");
        let b = out.find("b/secret.yaml\n").expect("b heading");
        assert!(a < b, "files sorted: {out}");
        // Each file is a heading once, even though its findings were not adjacent.
        assert_eq!(
            out.lines().filter(|l| *l == "b/secret.yaml").count(),
            1,
            "{out}"
        );
        let l3 = out.find("   3:3  error").expect("line 3 row");
        let l12 = out.find("  12:3  error").expect("line 12 row");
        assert!(l3 < l12, "lines sorted within a file: {out}");
        // Whole-file findings show "-" for the position.
        assert!(out.contains("\n     -  warning  recipient-drift"), "{out}");
        // Every message starts in the same column, and each hint sits under it.
        let rows: Vec<&str> = out.lines().filter(|l| l.contains(" in ")).collect();
        assert_eq!(rows.len(), 3, "{out}");
        let msg_col: Vec<usize> = rows
            .iter()
            .map(|r| r.rfind("  ").map(|i| i + 2).unwrap_or(0))
            .collect();
        assert!(msg_col.iter().all(|c| *c == msg_col[0]), "{out}");
        let hint_col = out
            .lines()
            .find(|l| l.trim_start().starts_with("hint:"))
            .map(|l| l.len() - l.trim_start().len());
        assert_eq!(hint_col, Some(msg_col[0]), "{out}");
    }

    #[test]
    fn text_hides_info_unless_verbose_but_counts_it() {
        let quiet = text(&sample(), false, false);
        assert!(!quiet.contains("a/cm.yaml"), "{quiet}");
        assert!(
            quiet.contains("1 info (not shown; --verbose shows them)"),
            "{quiet}"
        );
        let loud = text(&sample(), false, true);
        assert!(loud.contains("a/cm.yaml\n"), "{loud}");
        assert!(loud.contains("info     plain-manifest"), "{loud}");
        assert!(!loud.contains("not shown"), "{loud}");
    }

    #[test]
    fn text_summary_lists_everything_set_aside() {
        let out = text(&sample(), false, false);
        assert!(
            out.contains("seal check: 42 files, 7 sops files: 2 errors, 1 warning, 1 info"),
            "{out}"
        );
        assert!(
            out.contains("skipped: 1 binary, 0 larger than 10 MB, 2 symlinks"),
            "{out}"
        );
        assert!(
            out.contains("ignored by .sealignore (1):\n  vendor/chart.yaml\n"),
            "{out}"
        );
        assert!(
            out.contains("allowed inline (1):\n  c/test.env:4  credential-value  test fixture\n"),
            "{out}"
        );
        assert!(out.contains("could not read (1)"), "{out}");
        let mut whole = sample();
        whole.summary.allowed[0].finding.line = 0;
        let out2 = text(&whole, false, false);
        assert!(
            out2.contains("\n  c/test.env  credential-value  test fixture\n"),
            "{out2}"
        );
        assert!(out.contains("  locked/: permission denied\n"), "{out}");
    }

    #[test]
    fn text_clean_run_is_one_line() {
        let r = Report {
            findings: vec![],
            summary: Summary {
                files_checked: 42,
                sops_files: 7,
                ..Summary::default()
            },
        };
        assert_eq!(
            text(&r, true, false),
            "seal check: 42 files, 7 sops files, no findings.\n"
        );
        let one = Report {
            summary: Summary {
                files_checked: 1,
                sops_files: 1,
                ..Summary::default()
            },
            ..Report::default()
        };
        assert_eq!(
            text(&one, false, false),
            "seal check: 1 file, 1 sops file, no findings.\n"
        );
    }

    #[test]
    fn colour_only_when_asked() {
        let plain = text(&sample(), false, true);
        assert!(!plain.contains('\x1b'), "{plain}");
        let colour = text(&sample(), true, true);
        assert!(colour.contains("\x1b[31merror  \x1b[0m"), "{colour}");
        assert!(colour.contains("\x1b[33mwarning\x1b[0m"), "{colour}");
        assert!(colour.contains("\x1b[2minfo   \x1b[0m"), "{colour}");
        // Stripping the escapes gives the plain output back.
        let stripped = regex::Regex::new("\x1b\\[[0-9;]*m")
            .map(|re| re.replace_all(&colour, "").into_owned())
            .unwrap_or_default();
        assert_eq!(stripped, plain);
    }

    #[test]
    fn text_makes_control_characters_visible() {
        let mut r = sample();
        r.findings[0].path = "evil\x1b[2J\nname.yaml".into();
        r.findings[0].message = "two\nlines".into();
        let out = text(&r, false, false);
        assert!(!out.contains('\x1b'), "{out}");
        assert!(out.contains("evil\\u{1b}[2J\\u{a}name.yaml"), "{out}");
        assert!(out.contains("two\\u{a}lines"), "{out}");
    }

    #[test]
    fn json_has_the_documented_shape_and_key_order() {
        let out = render(&sample(), OutputFormat::Json, TextOptions::default());
        let v: Value = serde_json::from_str(&out).expect("valid JSON");
        let keys: Vec<&String> = v
            .as_object()
            .map(|o| o.keys().collect())
            .unwrap_or_default();
        assert_eq!(keys, ["version", "findings", "allowed", "summary"]);
        assert_eq!(v["version"], 1);
        let f0 = &v["findings"][0];
        let fkeys: Vec<&String> = f0
            .as_object()
            .map(|o| o.keys().collect())
            .unwrap_or_default();
        assert_eq!(
            fkeys,
            [
                "path", "line", "column", "rule", "severity", "message", "hint"
            ]
        );
        // Sorted by path then line, info included.
        let paths: Vec<(&str, u64)> = v["findings"]
            .as_array()
            .map(|a| {
                a.iter()
                    .map(|f| {
                        (
                            f["path"].as_str().unwrap_or(""),
                            f["line"].as_u64().unwrap_or(0),
                        )
                    })
                    .collect()
            })
            .unwrap_or_default();
        assert_eq!(
            paths,
            [
                ("a/cm.yaml", 1),
                ("a/x.yaml", 0),
                ("b/secret.yaml", 3),
                ("b/secret.yaml", 12)
            ]
        );
        assert_eq!(v["allowed"][0]["reason"], "test fixture");
        assert_eq!(v["allowed"][0]["rule"], "credential-value");
        assert_eq!(v["summary"]["errors"], 2);
        assert_eq!(v["summary"]["warnings"], 1);
        assert_eq!(v["summary"]["info"], 1);
        assert_eq!(v["summary"]["skipped_symlinks"], 2);
        assert_eq!(v["summary"]["ignored"][0], "vendor/chart.yaml");
        assert_eq!(v["summary"]["unreadable"][0]["reason"], "permission denied");
    }

    #[test]
    fn sarif_has_rules_results_and_suppressions() {
        let out = render(&sample(), OutputFormat::Sarif, TextOptions::default());
        let v: Value = serde_json::from_str(&out).expect("valid JSON");
        assert_eq!(v["version"], "2.1.0");
        assert_eq!(v["$schema"], SARIF_SCHEMA);
        let run = &v["runs"][0];
        assert_eq!(run["tool"]["driver"]["name"], "seal");
        assert_eq!(run["tool"]["driver"]["version"], env!("CARGO_PKG_VERSION"));
        let rules = run["tool"]["driver"]["rules"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        assert_eq!(rules.len(), Rule::ALL.len());
        for (i, r) in Rule::ALL.iter().enumerate() {
            assert_eq!(rules[i]["id"], r.id());
            assert_eq!(rules[i]["shortDescription"]["text"], r.description());
        }
        let results = run["results"].as_array().cloned().unwrap_or_default();
        // 3 shown findings (info hidden without verbose) + 1 allowed.
        assert_eq!(results.len(), 4, "{out}");
        for r in &results {
            let id = r["ruleId"].as_str().unwrap_or("");
            let idx = r["ruleIndex"].as_u64().unwrap_or(99) as usize;
            assert_eq!(Rule::ALL[idx].id(), id);
        }
        let whole_file = results
            .iter()
            .find(|r| r["ruleId"] == "recipient-drift")
            .expect("drift result");
        assert!(whole_file["locations"][0]["physicalLocation"]["region"].is_null());
        assert_eq!(whole_file["level"], "warning");
        let secret = results
            .iter()
            .find(|r| r["ruleId"] == "plaintext-secret")
            .expect("secret result");
        let loc = &secret["locations"][0]["physicalLocation"];
        assert_eq!(loc["artifactLocation"]["uri"], "b/secret.yaml");
        assert_eq!(loc["artifactLocation"]["uriBaseId"], "%SRCROOT%");
        assert_eq!(loc["region"]["startLine"], 12);
        assert_eq!(loc["region"]["startColumn"], 3);
        let allowed = results
            .iter()
            .find(|r| r["ruleId"] == "credential-value")
            .expect("allowed result");
        assert_eq!(allowed["suppressions"][0]["kind"], "inSource");
        assert_eq!(allowed["suppressions"][0]["justification"], "test fixture");
        assert_eq!(run["invocations"][0]["executionSuccessful"], false);
        let verbose = render(
            &sample(),
            OutputFormat::Sarif,
            TextOptions {
                color: false,
                verbose: true,
            },
        );
        let v: Value = serde_json::from_str(&verbose).expect("valid JSON");
        assert_eq!(v["runs"][0]["results"].as_array().map(Vec::len), Some(5));
    }

    #[test]
    fn sarif_fingerprints_are_stable_and_ignore_the_line() {
        let a = finding("k/s.yaml", 3, Rule::PlaintextSecret, Severity::Error);
        let mut moved = a.clone();
        moved.line = 30;
        assert_eq!(fingerprint(&a), fingerprint(&moved));
        let mut other = a.clone();
        other.path = "k/t.yaml".into();
        assert_ne!(fingerprint(&a), fingerprint(&other));
        let mut other_rule = a.clone();
        other_rule.rule = Rule::PrivateKey;
        assert_ne!(fingerprint(&a), fingerprint(&other_rule));
        // Known answer: sha256("plaintext-secret\0k/s.yaml\0plaintext-secret in k/s.yaml\0").
        let mut h = Sha256::new();
        h.update(b"plaintext-secret\0k/s.yaml\0plaintext-secret in k/s.yaml\0");
        let want: String = h.finalize().iter().map(|b| format!("{b:02x}")).collect();
        assert_eq!(fingerprint(&a), want);
    }

    #[test]
    fn sarif_uris_are_encoded() {
        assert_eq!(
            path_uri("a b/ü%.yaml"),
            ("a%20b/%C3%BC%25.yaml".into(), true)
        );
        assert_eq!(path_uri("/tmp/x y"), ("file:///tmp/x%20y".into(), false));
        let v = artifact_location("/abs/f");
        assert!(v["uriBaseId"].is_null());
    }

    #[test]
    fn github_annotations_escape_per_the_workflow_rules() {
        let mut r = Report::default();
        r.findings.push(Finding {
            path: "dir,x/a:b%.yaml".into(),
            line: 7,
            column: 2,
            rule: Rule::PlaintextSecret,
            severity: Severity::Error,
            message: "50% bad\r\n::set-output name=x::y".into(),
            hint: "encrypt, then commit".into(),
        });
        r.summary.files_checked = 1;
        let out = render(&r, OutputFormat::Github, TextOptions::default());
        let first = out.lines().next().unwrap_or("");
        assert_eq!(
            first,
            "::error file=dir%2Cx/a%3Ab%25.yaml,line=7,col=2,title=plaintext-secret::\
             50%25 bad%0D%0A::set-output name=x::y (hint: encrypt, then commit)"
        );
        // Only one line starts a command.
        assert_eq!(
            out.lines().filter(|l| l.starts_with("::")).count(),
            1,
            "{out}"
        );
        assert!(out.ends_with("seal check: 1 file, 0 sops files: 1 error, 0 warnings, 0 info.\n"));
    }

    #[test]
    fn github_levels_and_whole_file_findings() {
        let out = render(
            &sample(),
            OutputFormat::Github,
            TextOptions {
                color: true,
                verbose: true,
            },
        );
        assert!(
            !out.contains('\x1b'),
            "github output is never coloured: {out}"
        );
        let cmds: Vec<&str> = out.lines().filter(|l| l.starts_with("::")).collect();
        assert_eq!(cmds.len(), 5, "{out}");
        assert!(cmds[0].starts_with("::notice file=a/cm.yaml,line=1,col=3,title=plain-manifest::"));
        assert!(cmds[1].starts_with("::warning file=a/x.yaml,title=recipient-drift::"));
        assert!(cmds[2].starts_with("::error file=b/secret.yaml,line=3,col=3,title=private-key::"));
        assert!(cmds[4].starts_with("::error file=locked/,title=unreadable::"));
        assert!(out.contains("allowed inline (1):"), "{out}");
        let quiet = render(&sample(), OutputFormat::Github, TextOptions::default());
        assert!(!quiet.contains("::notice"), "{quiet}");
    }

    #[test]
    fn every_rule_has_help_and_a_default_level() {
        for r in Rule::ALL {
            assert!(rule_help(r).len() > 20, "{r}");
            assert!(rule_help(r).ends_with('.'), "{r}");
        }
        assert_eq!(default_severity(Rule::PlaintextSecret), Severity::Error);
        assert_eq!(default_severity(Rule::PlainManifest), Severity::Info);
    }

    #[test]
    fn the_ci_docs_list_every_rule_as_the_code_does() {
        let doc = include_str!("../../docs/ci.md");
        for r in Rule::ALL {
            let row = format!(
                "| `{}` | {} | {} |",
                r.id(),
                default_severity(r).name(),
                r.description()
            );
            assert!(doc.contains(&row), "docs/ci.md lacks the row {row}");
        }
        let rows = doc.lines().filter(|l| l.starts_with("| `")).count();
        assert_eq!(
            rows,
            Rule::ALL.len(),
            "docs/ci.md lists a rule the code does not have"
        );
    }

    fn arb_finding() -> impl Strategy<Value = Finding> {
        (
            "[a-z/ ,:%\u{e9}\u{1b}\n]{1,12}",
            0usize..50,
            0usize..20,
            0usize..Rule::ALL.len(),
            0u8..3,
            "[a-zA-Z0-9 %:,\r\n\u{1b}\"\\\\]{0,20}",
            "[a-z ]{0,10}",
        )
            .prop_map(|(path, line, column, rule, sev, message, hint)| Finding {
                path,
                line,
                column,
                rule: Rule::ALL[rule],
                severity: [Severity::Info, Severity::Warning, Severity::Error][usize::from(sev)],
                message,
                hint,
            })
    }

    fn arb_report() -> impl Strategy<Value = Report> {
        (
            proptest::collection::vec(arb_finding(), 0..8),
            proptest::collection::vec((arb_finding(), "[a-z \n]{0,8}"), 0..3),
            proptest::collection::vec("[a-z/]{1,8}", 0..3),
            0usize..1000,
        )
            .prop_map(|(findings, allowed, ignored, files)| Report {
                findings,
                summary: Summary {
                    files_checked: files,
                    sops_files: files / 2,
                    ignored,
                    allowed: allowed
                        .into_iter()
                        .map(|(finding, reason)| Allowed { finding, reason })
                        .collect(),
                    ..Summary::default()
                },
            })
    }

    proptest! {
        #[test]
        fn json_round_trips_findings_and_counts(r in arb_report()) {
            let out = render(&r, OutputFormat::Json, TextOptions::default());
            let v: Value = serde_json::from_str(&out).map_err(|e| TestCaseError::fail(e.to_string()))?;
            let findings = v["findings"].as_array().cloned().unwrap_or_default();
            prop_assert_eq!(findings.len(), r.findings.len());
            prop_assert_eq!(v["allowed"].as_array().map(Vec::len), Some(r.summary.allowed.len()));
            prop_assert_eq!(&v["summary"]["errors"], &json!(r.count(Severity::Error)));
            prop_assert_eq!(&v["summary"]["warnings"], &json!(r.count(Severity::Warning)));
            prop_assert_eq!(&v["summary"]["info"], &json!(r.count(Severity::Info)));
            // Every finding comes back unchanged (as a multiset).
            let mut back: Vec<Finding> = findings.iter().filter_map(|f| Some(Finding {
                path: f["path"].as_str()?.to_string(),
                line: usize::try_from(f["line"].as_u64()?).ok()?,
                column: usize::try_from(f["column"].as_u64()?).ok()?,
                rule: Rule::from_id(f["rule"].as_str()?)?,
                severity: match f["severity"].as_str()? {
                    "error" => Severity::Error,
                    "warning" => Severity::Warning,
                    "info" => Severity::Info,
                    _ => return None,
                },
                message: f["message"].as_str()?.to_string(),
                hint: f["hint"].as_str()?.to_string(),
            })).collect();
            let mut want = r.findings.clone();
            let key = |f: &Finding| (f.path.clone(), f.line, f.column, f.rule, f.severity, f.message.clone(), f.hint.clone());
            back.sort_by_key(key);
            want.sort_by_key(key);
            prop_assert_eq!(back, want);
        }

        #[test]
        fn sarif_parses_and_counts(r in arb_report(), verbose in any::<bool>()) {
            let out = render(&r, OutputFormat::Sarif, TextOptions { color: false, verbose });
            let v: Value = serde_json::from_str(&out).map_err(|e| TestCaseError::fail(e.to_string()))?;
            let shown = r.findings.iter().filter(|f| verbose || f.severity != Severity::Info).count();
            let results = v["runs"][0]["results"].as_array().cloned().unwrap_or_default();
            prop_assert_eq!(results.len(), shown + r.summary.allowed.len());
            let suppressed = results.iter().filter(|x| x.get("suppressions").is_some()).count();
            prop_assert_eq!(suppressed, r.summary.allowed.len());
        }

        #[test]
        fn github_is_one_command_per_finding(r in arb_report(), verbose in any::<bool>()) {
            let out = render(&r, OutputFormat::Github, TextOptions { color: true, verbose });
            let shown = r.findings.iter().filter(|f| verbose || f.severity != Severity::Info).count();
            prop_assert_eq!(out.lines().filter(|l| l.starts_with("::")).count(), shown);
            prop_assert!(!out.contains('\r') && !out.contains('\x1b'));
        }

        #[test]
        fn text_never_has_stray_control_characters(r in arb_report(), verbose in any::<bool>()) {
            let out = render(&r, OutputFormat::Text, TextOptions { color: false, verbose });
            prop_assert!(out.chars().all(|c| c == '\n' || !c.is_control()));
            prop_assert!(out.ends_with('\n'));
            let want = if r.findings.is_empty() { "no findings" } else { "seal check: " };
            prop_assert!(out.contains(want));
        }
    }
}
