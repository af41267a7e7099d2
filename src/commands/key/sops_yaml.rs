//! Adding an age recipient to one `.sops.yaml` creation rule by editing the text
//! minimally (one line inserted or one value extended), so comments, blank lines, quoting
//! and layout stay exactly as the user wrote them; and the text of a new `.sops.yaml`.
//!
//! Every edit is checked by parsing the result with [`crate::config::Config`]: the rule
//! must have gained exactly the new recipient and every other rule must be unchanged, or
//! the edit is refused (the caller then writes nothing).

use std::path::Path;

use crate::config::Config;

/// The `path_regex` of the rule in a new `.sops.yaml`: the `*.sops.yaml` files below a
/// `kubernetes/` directory, the rule docs/getting-started.md recommends (and one `seal git
/// setup` writes as two globs).
pub const NEW_RULE_PATH_REGEX: &str = r"kubernetes/.*\.sops\.ya?ml$";

/// The `encrypted_regex` of the rule in a new `.sops.yaml`: only the values of a Secret.
pub const NEW_RULE_ENCRYPTED_REGEX: &str = "^(data|stringData)$";

/// The text of a new `.sops.yaml` with one Kubernetes rule for `recipient`.
pub fn new_config(recipient: &str) -> String {
    format!(
        "# sops/seal configuration: the first rule whose path_regex matches a file (its path\n\
         # relative to this directory) gives the recipients and what is encrypted.\n\
         creation_rules:\n\
         \x20 # Kubernetes Secrets (kubernetes/**/*.sops.yaml): only the values under\n\
         \x20 # data/stringData are encrypted, so apiVersion, kind and metadata stay readable in\n\
         \x20 # review and for Flux. Other files need a rule of their own above this one.\n\
         \x20 - path_regex: {NEW_RULE_PATH_REGEX}\n\
         \x20   encrypted_regex: {NEW_RULE_ENCRYPTED_REGEX}\n\
         \x20   age: {recipient}\n"
    )
}

/// Add `recipient` to the `age` keys of creation rule `rule` (0-based) of the config
/// text `text` (read from `path`, which only names the file in messages and anchors
/// `path_regex`). Returns the new text (the same text when the rule already has the
/// recipient). A config without a `creation_rules` key gets the rule of [`new_config`]
/// appended (then `rule` must be 0).
///
/// `group` picks the key group (0-based) of a rule written with `key_groups`; `None` is
/// the first group. A rule written with plain `age`/`pgp` keys has one group (0).
pub fn add_recipient(
    text: &str,
    path: &Path,
    rule: usize,
    group: Option<usize>,
    recipient: &str,
) -> Result<String, String> {
    let before = Config::parse(text.as_bytes(), path).map_err(|e| e.to_string())?;
    if let Some(r) = before.creation_rules.get(rule)
        && r.key_groups
            .get(group.unwrap_or(0))
            .is_some_and(|g| g.iter().any(|k| k == recipient))
    {
        return Ok(text.to_string());
    }
    let lines = split_lines(text);
    let new_text = match find_rules(&lines)? {
        None => {
            if rule != 0 {
                return Err(format!(
                    "the config has no creation rule number {}",
                    rule + 1
                ));
            }
            let mut out = text.to_string();
            if !out.is_empty() && !out.ends_with('\n') {
                out.push('\n');
            }
            let fresh = new_config(recipient);
            // Keep only the part from `creation_rules:` on (the header comment is for new
            // files).
            let from = fresh.find("creation_rules:").unwrap_or(0);
            out.push_str(fresh.get(from..).unwrap_or(&fresh));
            out
        }
        Some(items) => {
            let Some(item) = items.get(rule) else {
                return Err(format!(
                    "the config has {} creation rule(s), not {}",
                    items.len(),
                    rule + 1
                ));
            };
            edit_item(text, &lines, item, group, recipient)?
        }
    };
    verify(
        &before,
        &new_text,
        path,
        rule,
        group.unwrap_or(0),
        recipient,
    )?;
    Ok(new_text)
}

/// Check that `new_text` equals the old config except for `recipient` added to `rule`.
fn verify(
    before: &Config,
    new_text: &str,
    path: &Path,
    rule: usize,
    group: usize,
    recipient: &str,
) -> Result<(), String> {
    let after = Config::parse(new_text.as_bytes(), path)
        .map_err(|e| format!("the edited file would not parse ({e})"))?;
    let mut expected = before.creation_rules.clone();
    if expected.is_empty() && rule == 0 {
        expected.push(crate::config::CreationRule {
            path_regex: Some(NEW_RULE_PATH_REGEX.to_string()),
            key_groups: vec![vec![recipient.to_string()]],
            ..Default::default()
        });
    } else {
        let Some(r) = expected.get_mut(rule) else {
            return Err("the rule vanished".to_string());
        };
        if r.key_groups.is_empty() && group == 0 {
            r.key_groups.push(Vec::new());
        }
        match r.key_groups.get_mut(group) {
            // Age recipients come before a group's other keys (PGP, key services) in the
            // parsed rule.
            Some(g) => {
                let at = g
                    .iter()
                    .position(|r| crate::keys::type_of(r).name() != "age")
                    .unwrap_or(g.len());
                g.insert(at, recipient.to_string());
            }
            None => return Err(format!("the rule has no key group {}", group + 1)),
        }
    }
    let same = after.creation_rules.len() == expected.len()
        && after
            .creation_rules
            .iter()
            .zip(&expected)
            .all(|(a, e)| a.path_regex == e.path_regex && a.key_groups == e.key_groups);
    if same {
        Ok(())
    } else {
        Err(
            "the edit did not give the expected rules (the file's layout is one seal cannot \
             edit safely)"
                .to_string(),
        )
    }
}

/// One line of the file: where it starts, its text without the line break, its
/// indentation, and whether it holds content (not blank, not a comment).
struct Line<'a> {
    start: usize,
    text: &'a str,
    indent: usize,
    content: bool,
}

impl Line<'_> {
    fn end(&self) -> usize {
        self.start + self.text.len()
    }
    fn body(&self) -> &str {
        self.text.get(self.indent..).unwrap_or("")
    }
    /// A block sequence entry: `-` followed by a space or the end of the line.
    fn is_dash(&self) -> bool {
        let b = self.body();
        b == "-" || b.starts_with("- ") || b.starts_with("-\t")
    }
}

fn split_lines(text: &str) -> Vec<Line<'_>> {
    let mut out = Vec::new();
    let mut start = 0;
    for raw in text.split_inclusive('\n') {
        let t = raw.trim_end_matches('\n').trim_end_matches('\r');
        let indent = t.len() - t.trim_start_matches(' ').len();
        let rest = t.trim_start();
        out.push(Line {
            start,
            text: t,
            indent,
            content: !rest.is_empty() && !rest.starts_with('#'),
        });
        start += raw.len();
    }
    out
}

/// One creation rule: the line of its dash and the index past its last line.
struct Item {
    dash: usize,
    end: usize,
}

/// The items of the block sequence that is the value of the key on line `head` (at
/// column `head_indent`), looking no further than line `stop`. Items may be indented as
/// deep as the key (an indentless sequence) or deeper.
fn seq_items(lines: &[Line], head: usize, head_indent: usize, stop: usize) -> Vec<Item> {
    let mut items: Vec<Item> = Vec::new();
    let mut seq_indent = None;
    let mut last_content = head;
    for (i, l) in lines.iter().enumerate().take(stop).skip(head + 1) {
        if !l.content {
            continue;
        }
        let ind = match seq_indent {
            Some(ind) => ind,
            None => {
                if l.indent < head_indent || (l.indent == head_indent && !l.is_dash()) {
                    break;
                }
                *seq_indent.insert(l.indent)
            }
        };
        if l.indent == ind && l.is_dash() {
            if let Some(prev) = items.last_mut() {
                prev.end = i;
            }
            items.push(Item {
                dash: i,
                end: i + 1,
            });
        } else if l.indent <= ind || l.body().starts_with("---") || l.body().starts_with("...") {
            break;
        }
        last_content = i;
    }
    if let Some(prev) = items.last_mut() {
        prev.end = last_content + 1;
    }
    items
}

/// The creation rules' items, or None when there is no `creation_rules` key.
fn find_rules(lines: &[Line]) -> Result<Option<Vec<Item>>, String> {
    let Some(head) = lines
        .iter()
        .position(|l| l.indent == 0 && l.content && l.text.starts_with("creation_rules:"))
    else {
        return Ok(None);
    };
    let head_text = lines.get(head).map(|l| l.text).unwrap_or("");
    let rest = strip_comment(head_text.get("creation_rules:".len()..).unwrap_or(""));
    if !rest.trim().is_empty() {
        return Err(
            "creation_rules is not written as a block list (one `- ` rule per line); seal \
             edits only that form"
                .to_string(),
        );
    }
    let items = seq_items(lines, head, 0, lines.len());
    if items.is_empty() {
        return Err("creation_rules has no rules seal can find".to_string());
    }
    Ok(Some(items))
}

/// `s` without a trailing `# comment` (a `#` at the start or after whitespace, outside
/// quotes), right-trimmed.
fn strip_comment(s: &str) -> &str {
    s.get(..value_end(s)).unwrap_or(s)
}

/// Byte index where the value in `s` ends (before any comment and trailing spaces),
/// quotes respected.
fn value_end(s: &str) -> usize {
    let bytes = s.as_bytes();
    let mut quote: Option<u8> = None;
    let mut i = 0;
    let mut prev = b' ';
    while let Some(&b) = bytes.get(i) {
        match quote {
            Some(q) => {
                if q == b'"' && b == b'\\' {
                    i += 1;
                } else if b == q {
                    quote = None;
                }
            }
            None => {
                if (b == b'"' || b == b'\'') && matches!(prev, b' ' | b'\t' | b'[' | b',') {
                    quote = Some(b);
                } else if b == b'#' && matches!(prev, b' ' | b'\t') {
                    return s.get(..i).map(|v| v.trim_end().len()).unwrap_or(i);
                }
            }
        }
        prev = b;
        i += 1;
    }
    s.trim_end().len()
}

/// Add `recipient` to one rule's `age` key, or (for a rule written with `key_groups`) to
/// the `age` key of its group `group` (default the first).
fn edit_item(
    text: &str,
    lines: &[Line],
    item: &Item,
    group: Option<usize>,
    recipient: &str,
) -> Result<String, String> {
    let nl = if text.contains("\r\n") { "\r\n" } else { "\n" };
    let line_at = |i: usize| {
        lines
            .get(i)
            .ok_or_else(|| "internal: line out of range".to_string())
    };
    let dash = line_at(item.dash)?;
    // Column of the rule's keys: after "- " on the dash line, else the next content line.
    let after_dash = dash.body().get(1..).unwrap_or("");
    let spaces = after_dash.len() - after_dash.trim_start_matches(' ').len();
    let inline = !strip_comment(after_dash).trim().is_empty();
    let key_col = if inline {
        dash.indent + 1 + spaces
    } else {
        match lines
            .get(item.dash + 1..item.end)
            .unwrap_or(&[])
            .iter()
            .find(|l| l.content)
        {
            Some(l) => l.indent,
            None => return Err("the rule is empty".to_string()),
        }
    };
    // The rule's keys: (line index, text from the key on).
    let mut keys: Vec<(usize, &str)> = Vec::new();
    for i in item.dash..item.end {
        let l = line_at(i)?;
        if !l.content {
            continue;
        }
        if i == item.dash {
            if inline {
                keys.push((i, l.text.get(key_col..).unwrap_or("")));
            }
        } else if l.indent == key_col && !l.is_dash() {
            keys.push((i, l.body()));
        }
    }
    let key_of = |s: &str| s.split(':').next().unwrap_or("").trim().to_string();
    if let Some(&(kg_line, kg_text)) = keys.iter().find(|(_, k)| key_of(k) == "key_groups") {
        let value = strip_comment(kg_text.get("key_groups:".len()..).unwrap_or(""));
        if !value.trim().is_empty() {
            return Err(
                "the rule's key_groups is not written as a block list (one `- ` group per \
                 line); seal edits only that form"
                    .to_string(),
            );
        }
        let groups = seq_items(lines, kg_line, key_col, item.end);
        let g = group.unwrap_or(0);
        let Some(target) = groups.get(g) else {
            return Err(format!(
                "the rule has {} key group(s), not {}",
                groups.len(),
                g + 1
            ));
        };
        // A group is a mapping like a rule, without key_groups of its own.
        return edit_item(text, lines, target, None, recipient);
    }
    if group.is_some_and(|g| g > 0) {
        return Err(format!(
            "the rule does not use key_groups, so it has no key group {}",
            group.unwrap_or(0) + 1
        ));
    }
    let is_content = |i: usize| lines.get(i).is_some_and(|l| l.content);
    let last_content = (item.dash..item.end)
        .rev()
        .find(|&i| is_content(i))
        .unwrap_or(item.dash);
    let Some(&(age_line, age_text)) = keys.iter().find(|(_, k)| key_of(k) == "age") else {
        // No age key yet: a new line at the key column after the rule's last line.
        let at = line_at(last_content)?.end();
        return Ok(splice(
            text,
            at,
            &format!("{nl}{}age: {recipient}", " ".repeat(key_col)),
        ));
    };
    let line = line_at(age_line)?;
    let colon = age_text.find(':').map(|p| p + 1).unwrap_or(0);
    let value_start = line.text.len() - age_text.len() + colon;
    let after_key = line.text.get(value_start..).unwrap_or("");
    let lead = after_key.len() - after_key.trim_start().len();
    let value = strip_comment(after_key).trim_start();
    let abs_value = line.start + value_start + lead;
    let abs_value_end = abs_value + value.len();
    // The lines that continue the value (more indented than the key, or an indentless
    // sequence at the key column).
    let cont: Vec<usize> = (age_line + 1..item.end)
        .take_while(|&i| {
            lines.get(i).is_some_and(|l| {
                !l.content || l.indent > key_col || (l.indent == key_col && l.is_dash())
            })
        })
        .filter(|&i| is_content(i))
        .collect();
    let first = value.chars().next();
    match first {
        None => {
            let (Some(&first_i), Some(&last_i)) = (cont.first(), cont.last()) else {
                // `age:` with no value.
                let at = line.start + value_start;
                return Ok(splice(text, at, &format!(" {recipient}")));
            };
            let first_cont = line_at(first_i)?;
            let last = line_at(last_i)?;
            if first_cont.is_dash() {
                Ok(splice(
                    text,
                    last.end(),
                    &format!("{nl}{}- {recipient}", " ".repeat(first_cont.indent)),
                ))
            } else {
                // A plain scalar over several lines.
                let at = last.start + value_end(last.text);
                Ok(splice(text, at, &format!(",{recipient}")))
            }
        }
        Some('|') | Some('>') => {
            let (Some(&first_i), Some(&last_i)) = (cont.first(), cont.last()) else {
                return Err("the age block scalar is empty".to_string());
            };
            let indent = line_at(first_i)?.indent;
            let last = line_at(last_i)?;
            let comma = if last.text.trim_end().ends_with(',') {
                ""
            } else {
                ","
            };
            let at = last.start + last.text.trim_end().len();
            Ok(splice(
                text,
                at,
                &format!("{comma}{nl}{}{recipient}", " ".repeat(indent)),
            ))
        }
        Some(q @ ('"' | '\'')) => {
            if value.len() < 2 || !value.ends_with(q) {
                return Err(
                    "the quoted age value spans several lines; seal edits only one-line values"
                        .to_string(),
                );
            }
            let sep = if value.len() == 2 { "" } else { "," };
            Ok(splice(
                text,
                abs_value_end - 1,
                &format!("{sep}{recipient}"),
            ))
        }
        Some('[') => {
            if !value.ends_with(']') {
                return Err(
                    "the age flow list spans several lines; seal edits only one-line lists"
                        .to_string(),
                );
            }
            let inner = value.get(1..value.len() - 1).unwrap_or("").trim();
            let sep = if inner.is_empty() { "" } else { ", " };
            // Right after the last element (before any spaces ahead of `]`).
            let before_close = text.get(..abs_value_end - 1).unwrap_or("");
            Ok(splice(
                text,
                before_close.trim_end().len(),
                &format!("{sep}{recipient}"),
            ))
        }
        Some('&' | '*' | '!' | '{') => Err(
            "the age value uses an anchor, alias, tag or mapping; seal edits only plain \
             strings and lists"
                .to_string(),
        ),
        Some(_) => {
            if let Some(&last_i) = cont.last() {
                let last = line_at(last_i)?;
                let at = last.start + value_end(last.text);
                return Ok(splice(text, at, &format!(",{recipient}")));
            }
            Ok(splice(text, abs_value_end, &format!(",{recipient}")))
        }
    }
}

fn splice(text: &str, at: usize, insert: &str) -> String {
    let at = at.min(text.len());
    match (text.get(..at), text.get(at..)) {
        (Some(a), Some(b)) => format!("{a}{insert}{b}"),
        _ => format!("{text}{insert}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const NEW: &str = "age1qyqszqgpqyqszqgpqyqszqgpqyqszqgpqyqszqgpqyqszqgpqyqs3290gq";
    const A: &str = "age1hkdt4s7er6a00gwcncp4rpklh0m7qg3f7sk3x9dxhmcak6agvaaqu7plpx";
    const B: &str = "age1cy0su9fwf3gf9mw868g5yut09p6nytfmmnktexz2ya5uqg9vl9sss4euqm";

    fn add(text: &str, rule: usize) -> Result<String, String> {
        add_recipient(text, Path::new("/repo/.sops.yaml"), rule, None, NEW)
    }

    fn rules(text: &str) -> Vec<Vec<Vec<String>>> {
        Config::parse(text.as_bytes(), Path::new("/repo/.sops.yaml"))
            .expect("parses")
            .creation_rules
            .into_iter()
            .map(|r| r.key_groups)
            .collect()
    }

    #[test]
    fn comma_string_gets_the_key_appended_and_comments_stay() {
        let text = format!(
            "# team keys\ncreation_rules:\n  # prod\n  - path_regex: prod/.*\n    age: {A},{B} # two admins\n  - age: {A}\n"
        );
        let out = add(&text, 0).expect("edit");
        assert_eq!(
            out,
            format!(
                "# team keys\ncreation_rules:\n  # prod\n  - path_regex: prod/.*\n    age: {A},{B},{NEW} # two admins\n  - age: {A}\n"
            )
        );
        let out = add(&text, 1).expect("edit");
        assert!(out.ends_with(&format!("  - age: {A},{NEW}\n")), "{out}");
    }

    #[test]
    fn block_list_gets_a_new_item_with_the_same_indent() {
        let text = format!(
            "creation_rules:\n- path_regex: a\n  age:\n  - {A} # alice\n  # bob is on leave\n  - {B}\n\n  encrypted_regex: ^data$\n- age: {B}\n"
        );
        let out = add(&text, 0).expect("edit");
        assert_eq!(
            out,
            format!(
                "creation_rules:\n- path_regex: a\n  age:\n  - {A} # alice\n  # bob is on leave\n  - {B}\n  - {NEW}\n\n  encrypted_regex: ^data$\n- age: {B}\n"
            )
        );
        let indented = format!("creation_rules:\n  - age:\n      - {A}\n    path_regex: x\n");
        let out = add(&indented, 0).expect("edit");
        assert_eq!(
            out,
            format!("creation_rules:\n  - age:\n      - {A}\n      - {NEW}\n    path_regex: x\n")
        );
    }

    #[test]
    fn quoted_flow_folded_and_missing_forms() {
        let cases = [
            (
                format!("creation_rules:\n  - age: \"{A}\"\n"),
                format!("creation_rules:\n  - age: \"{A},{NEW}\"\n"),
            ),
            (
                format!("creation_rules:\n  - age: '{A}'  # q\n"),
                format!("creation_rules:\n  - age: '{A},{NEW}'  # q\n"),
            ),
            (
                format!("creation_rules:\n  - age: [{A}, {B} ]\n"),
                format!("creation_rules:\n  - age: [{A}, {B}, {NEW} ]\n"),
            ),
            (
                format!("creation_rules:\n  - path_regex: x\n    age: >-\n      {A},\n      {B}\n"),
                format!(
                    "creation_rules:\n  - path_regex: x\n    age: >-\n      {A},\n      {B},\n      {NEW}\n"
                ),
            ),
            (
                "creation_rules:\n  - path_regex: x\n    pgp: ABC\n# end\n".to_string(),
                format!(
                    "creation_rules:\n  - path_regex: x\n    pgp: ABC\n    age: {NEW}\n# end\n"
                ),
            ),
            (
                "creation_rules:\n  - path_regex: x\n    age:\n".to_string(),
                format!("creation_rules:\n  - path_regex: x\n    age: {NEW}\n"),
            ),
            (
                format!("creation_rules:\r\n  - path_regex: x\r\n    age:\r\n      - {A}\r\n"),
                format!(
                    "creation_rules:\r\n  - path_regex: x\r\n    age:\r\n      - {A}\r\n      - {NEW}\r\n"
                ),
            ),
        ];
        for (input, want) in cases {
            let got = add(&input, 0).unwrap_or_else(|e| panic!("{input:?}: {e}"));
            assert_eq!(got, want, "input {input:?}");
        }
    }

    #[test]
    fn a_config_without_rules_gets_the_kubernetes_rule() {
        let out = add("stores:\n  yaml:\n    indent: 2\n", 0).expect("edit");
        assert!(
            out.starts_with("stores:\n  yaml:\n    indent: 2\ncreation_rules:\n"),
            "{out}"
        );
        assert_eq!(rules(&out), vec![vec![vec![NEW.to_string()]]]);
        let fresh = new_config(NEW);
        let c = Config::parse(fresh.as_bytes(), Path::new("/repo/.sops.yaml")).expect("parses");
        let rule = c
            .rule_for(Path::new("/repo/kubernetes/apps/db/secret.sops.yaml"))
            .expect("a Secret below kubernetes/ matches");
        assert_eq!(rule.key_groups, vec![vec![NEW.to_string()]]);
        assert!(rule.selector.is_some());
        assert!(
            c.rule_for(Path::new("/repo/kubernetes/apps/db/secret.sops.yml"))
                .is_some()
        );
        assert!(c.rule_for(Path::new("/repo/app.env")).is_none());
        // The narrower rule of the guide: not every YAML file.
        assert!(
            c.rule_for(Path::new("/repo/kubernetes/apps/db/helmrelease.yaml"))
                .is_none()
        );
        assert!(
            c.rule_for(Path::new("/repo/.github/workflows/ci.yaml"))
                .is_none()
        );
        assert_eq!(
            crate::commands::git::regex_to_globs(NEW_RULE_PATH_REGEX).map(|g| g.len()),
            Some(2),
            "seal git setup writes the rule as globs"
        );
    }

    #[test]
    fn refuses_what_it_cannot_edit_safely() {
        let groups = format!("creation_rules:\n  - key_groups: [{{age: [{A}]}}]\n");
        assert!(
            add(&groups, 0)
                .expect_err("key groups")
                .contains("key_groups")
        );
        let flow = format!("creation_rules: [{{age: {A}}}]\n");
        assert!(add(&flow, 0).expect_err("flow").contains("block list"));
        let alias = format!("x: &k {A}\ncreation_rules:\n  - age: *k\n");
        assert!(add(&alias, 0).expect_err("alias").contains("alias"));
        assert!(add(&format!("creation_rules:\n  - age: {A}\n"), 3).is_err());
    }

    #[test]
    fn key_groups_rules_get_the_key_in_the_named_group() {
        let text = format!(
            "creation_rules:\n  - path_regex: prod/.*\n    key_groups:\n      # admins\n      - age:\n          - {A}\n      - pgp:\n          - ABCDEF\n        age: {B}\n    shamir_threshold: 2\n  - age: {A}\n"
        );
        let first = add(&text, 0).expect("default group");
        assert_eq!(
            first,
            text.replace(
                &format!("          - {A}\n"),
                &format!("          - {A}\n          - {NEW}\n")
            )
        );
        let second =
            add_recipient(&text, Path::new("/repo/.sops.yaml"), 0, Some(1), NEW).expect("group 2");
        assert_eq!(
            second,
            text.replace(&format!("age: {B}\n"), &format!("age: {B},{NEW}\n"))
        );
        assert_eq!(
            rules(&second)[0],
            vec![
                vec![A.to_string()],
                vec![B.to_string(), NEW.to_string(), "pgp:ABCDEF".to_string()]
            ]
        );
        let none = add_recipient(&text, Path::new("/repo/.sops.yaml"), 0, Some(2), NEW)
            .expect_err("no third group");
        assert!(none.contains("2 key group(s)"), "{none}");
        // An indentless group list, a group without age, and a plain rule asked for group 2.
        let indentless = format!(
            "creation_rules:\n- key_groups:\n  - pgp: [X]\n  - age: [{A}]\n  path_regex: x\n"
        );
        let out = add(&indentless, 0).expect("group without age");
        assert_eq!(
            out,
            format!(
                "creation_rules:\n- key_groups:\n  - pgp: [X]\n    age: {NEW}\n  - age: [{A}]\n  path_regex: x\n"
            )
        );
        let plain = format!("creation_rules:\n  - age: {A}\n");
        assert!(
            add_recipient(&plain, Path::new("/repo/.sops.yaml"), 0, Some(1), NEW)
                .expect_err("plain")
                .contains("does not use key_groups")
        );
        // Already in the group: unchanged.
        assert_eq!(add(&first, 0).expect("no-op"), first);
    }

    #[test]
    fn an_existing_recipient_is_not_added_twice() {
        let text = format!("creation_rules:\n  - age: {A},{NEW}\n");
        assert_eq!(add(&text, 0).expect("no-op"), text);
    }

    proptest! {
        /// Whatever the spacing and form, the edited rule gains exactly the new key, the
        /// others are unchanged, and taking the key out again gives the original text.
        #[test]
        fn edits_add_exactly_one_key(
            indent in 0usize..4,
            extra in 0usize..4,
            form in 0usize..4,
            comment in proptest::bool::ANY,
            nrules in 1usize..4,
            target in 0usize..4,
        ) {
            let target = target % nrules;
            let pad = " ".repeat(indent);
            let key_pad = " ".repeat(indent + 2);
            let item_pad = " ".repeat(indent + 2 + extra);
            let c = if comment { " # note" } else { "" };
            let mut text = String::from("# head\ncreation_rules:\n");
            for r in 0..nrules {
                text.push_str(&format!("{pad}- path_regex: r{r}/.*{c}\n"));
                match form {
                    0 => text.push_str(&format!("{key_pad}age: {A},{B}{c}\n")),
                    1 => text.push_str(&format!(
                        "{key_pad}age:{c}\n{item_pad}- {A}{c}\n{item_pad}- {B}\n"
                    )),
                    2 => text.push_str(&format!("{key_pad}age: \"{A}\"{c}\n")),
                    _ => text.push_str(&format!("{key_pad}age: [{A}]{c}\n")),
                }
                if comment {
                    text.push_str(&format!("{key_pad}# trailing\n\n"));
                }
            }
            let out = add(&text, target)
                .map_err(|e| TestCaseError::fail(format!("{e}\n{text}")))?;
            let before = rules(&text);
            let after = rules(&out);
            prop_assert_eq!(before.len(), after.len());
            for (i, (b, a)) in before.iter().zip(&after).enumerate() {
                if i == target {
                    let mut want = b.clone();
                    want[0].push(NEW.to_string());
                    prop_assert_eq!(a, &want);
                } else {
                    prop_assert_eq!(a, b);
                }
            }
            let undone: String = out
                .replace(&format!(", {NEW}"), "")
                .replace(&format!(",{NEW}"), "")
                .lines()
                .filter(|l| l.trim() != format!("- {NEW}"))
                .map(|l| format!("{l}\n"))
                .collect();
            prop_assert_eq!(undone, text);
        }
    }
}
