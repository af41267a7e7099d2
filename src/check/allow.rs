//! Where a file's comments are, line by line, so that `# seal:allow <rule> <reason>`
//! counts only as a comment token of the file's format and never as text inside a value:
//! a YAML comment (a `#` at the start of a line or after white space, outside quoted
//! scalars, which may span lines, and outside block scalars `|`/`>`), a dotenv comment
//! line (`#`), an INI comment line (`;` or `#`). JSON has no comments. Files in no
//! structured format (scripts, PEM files) take `#`, `//` and `;` comments.

use crate::stores::Format;

/// The comment of one line.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LineComment<'a> {
    /// The comment's text after its marker.
    pub text: &'a str,
    /// Nothing but white space before the marker.
    pub whole_line: bool,
}

/// One entry per line of `src` (split at `\n`): its comment, if it has one.
pub fn comments(src: &str, format: Format) -> Vec<Option<LineComment<'_>>> {
    match format {
        Format::Yaml => yaml(src),
        Format::Json => src.split('\n').map(|_| None).collect(),
        Format::Dotenv => whole_lines(src, &["#"]),
        Format::Ini => whole_lines(src, &["#", ";"]),
        Format::Binary => src.split('\n').map(loose).collect(),
    }
}

fn whole_lines<'a>(src: &'a str, markers: &[&str]) -> Vec<Option<LineComment<'a>>> {
    src.split('\n')
        .map(|line| {
            let t = line.trim_start();
            markers.iter().find_map(|m| {
                t.strip_prefix(m).map(|text| LineComment {
                    text,
                    whole_line: true,
                })
            })
        })
        .collect()
}

fn loose(line: &str) -> Option<LineComment<'_>> {
    let b = line.as_bytes();
    (0..b.len()).find_map(|i| {
        let after_space = i == 0 || b[i - 1].is_ascii_whitespace();
        let marker = if b[i] == b'#' || b[i] == b';' {
            1
        } else if b[i..].starts_with(b"//") {
            2
        } else {
            return None;
        };
        after_space.then(|| LineComment {
            text: &line[i + marker..],
            whole_line: line[..i].trim().is_empty(),
        })
    })
}

fn yaml(src: &str) -> Vec<Option<LineComment<'_>>> {
    let mut out = Vec::new();
    // Open quoted scalar carried over from the previous line.
    let mut quote: Option<u8> = None;
    // Inside a block scalar whose parent line is indented this much.
    let mut block: Option<usize> = None;
    for line in src.split('\n') {
        let indent = line
            .bytes()
            .take_while(|b| *b == b' ' || *b == b'\t')
            .count();
        let blank = line[indent..].trim_end_matches('\r').is_empty();
        if let Some(parent) = block {
            if blank || indent > parent {
                out.push(None);
                continue;
            }
            block = None;
        }
        let b = line.as_bytes();
        let mut i = 0;
        let mut comment = None;
        let mut content_end = b.len();
        while i < b.len() {
            let c = b[i];
            match quote {
                Some(b'"') => {
                    if c == b'\\' {
                        i += 2;
                        continue;
                    }
                    if c == b'"' {
                        quote = None;
                    }
                }
                Some(_) => {
                    if c == b'\'' {
                        if b.get(i + 1) == Some(&b'\'') {
                            i += 2;
                            continue;
                        }
                        quote = None;
                    }
                }
                None => {
                    let token_start = i == 0 || b" \t:[{,-?".contains(&b[i - 1]);
                    if (c == b'"' || c == b'\'') && token_start {
                        quote = Some(c);
                    } else if c == b'#' && (i == 0 || b[i - 1] == b' ' || b[i - 1] == b'\t') {
                        comment = Some(LineComment {
                            text: &line[i + 1..],
                            whole_line: i == indent,
                        });
                        content_end = i;
                        break;
                    }
                }
            }
            i += 1;
        }
        if quote.is_none() && opens_block(&line[..content_end]) {
            block = Some(indent);
        }
        out.push(comment);
    }
    out
}

/// The line's content (comment removed) ends with a block scalar header: `|`, `>`,
/// with optional chomping and indentation indicators, after white space or at the start.
fn opens_block(content: &str) -> bool {
    let t = content.trim_end();
    let head = t.trim_end_matches(|c: char| c == '-' || c == '+' || c.is_ascii_digit());
    let Some(before) = head.strip_suffix('|').or_else(|| head.strip_suffix('>')) else {
        return false;
    };
    t.len() - head.len() <= 2 && (before.is_empty() || before.ends_with([' ', '\t']))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn yaml_comments(src: &str) -> Vec<Option<(String, bool)>> {
        comments(src, Format::Yaml)
            .into_iter()
            .map(|c| c.map(|c| (c.text.trim().to_string(), c.whole_line)))
            .collect()
    }

    #[test]
    fn yaml_comments_are_found_and_values_are_not_comments() {
        let src = "a: 1 # one\n# two\nb: \"x # not\"\nc: 'it''s # not'\nd: x#not\ne: |\n  # not, content\n  more\nf: >-\n\n  # not\ng: 2 # three\nh: \"multi\n  # not\n  line\" # four\ni: it's # five\n";
        let got = yaml_comments(src);
        let want: Vec<Option<(String, bool)>> = vec![
            Some(("one".into(), false)),
            Some(("two".into(), true)),
            None,
            None,
            None,
            None,
            None,
            None,
            None,
            None,
            None,
            Some(("three".into(), false)),
            None,
            None,
            Some(("four".into(), false)),
            Some(("five".into(), false)),
            None,
        ];
        assert_eq!(got, want);
    }

    #[test]
    fn block_scalars_in_lists_and_with_indicators() {
        let src = "- |2\n   # not\n- key: >+\n    # not\n# yes\n";
        let got = yaml_comments(src);
        assert_eq!(got[1], None);
        assert_eq!(got[3], None);
        assert_eq!(got[4], Some(("yes".into(), true)));
        assert!(!opens_block("a: x|"));
        assert!(opens_block("a: !!str |-"));
    }

    #[test]
    fn other_formats() {
        let env = comments("A=b # not\n# yes\n", Format::Dotenv);
        assert_eq!(env[0], None);
        assert!(env[1].is_some());
        let ini = comments("[s]\nk = v ; not\n; yes\n", Format::Ini);
        assert_eq!(ini[1], None);
        assert!(ini[2].is_some());
        assert!(
            comments("{\"a\": \"# x\"}", Format::Json)
                .iter()
                .all(Option::is_none)
        );
    }
}
