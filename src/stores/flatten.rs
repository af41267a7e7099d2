//! Flattening of the metadata tree for the flat formats (dotenv, INI): `__map_k` and
//! `__list_i` key segments, as sops writes them (sops-format.md §8.6).
//!
//! The caller adds or strips the `sops_` prefix (dotenv) or the `[sops]` section (INI)
//! and does the newline escaping of its format; this module only maps tree ⇄ pairs.

use super::StoreError;
use crate::tree::{Branch, Item, Value, format_float_g, format_float_plain};

/// Separator in front of a map key segment.
const MAP: &str = "__map_";
/// Separator in front of a list index segment.
const LIST: &str = "__list_";
/// Most segments a flattened key may have when unflattening (the real metadata has 5).
const MAX_SEGMENTS: usize = 64;

/// Flatten a metadata tree into `(key, value)` pairs sorted byte-wise by key.
///
/// Top-level keys are written bare, nested map keys as `__map_<k>`, list elements as
/// `__list_<i>`. Strings stay as they are, ints are decimal, bools `true`/`false`;
/// nulls, comments, empty lists and empty maps produce nothing.
pub fn flatten(tree: &Branch) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for item in &tree.items {
        if let Item::Pair(k, v) = item {
            flatten_value(k.clone(), v, &mut out);
        }
    }
    out.sort_by(|a, b| a.0.as_bytes().cmp(b.0.as_bytes()));
    out
}

fn flatten_value(prefix: String, value: &Value, out: &mut Vec<(String, String)>) {
    match value {
        Value::Branch(b) => {
            for item in &b.items {
                if let Item::Pair(k, v) = item {
                    flatten_value(format!("{prefix}{MAP}{k}"), v, out);
                }
            }
        }
        Value::List(items) => {
            // Comments are not list elements for the index count.
            for (i, v) in items
                .iter()
                .filter(|v| !matches!(v, Value::Comment(_)))
                .enumerate()
            {
                flatten_value(format!("{prefix}{LIST}{i}"), v, out);
            }
        }
        Value::Null | Value::Comment(_) => {}
        Value::Str(s) => out.push((prefix, s.clone())),
        Value::Bytes(b) => out.push((prefix, String::from_utf8_lossy(b).into_owned())),
        Value::Int(i) => out.push((prefix, i.to_string())),
        Value::Float(f) => out.push((prefix, format_float_plain(*f))),
        Value::Bool(b) => out.push((prefix, b.to_string())),
        Value::Time(t) => out.push((prefix, t.0.clone())),
    }
}

/// A scalar as sops's `ValToString` writes it into dotenv and INI files: strings and
/// bytes as they are, ints in decimal, bools `true`/`false`, floats as Go
/// `FormatFloat(v, 'G', -1, 64)` with `.0` added when that looks like an integer (`5.0`,
/// `1.5`, `1E+21`), timestamps as RFC 3339 without fraction, null as `<nil>`.
/// Returns `None` for branches, lists and comments.
pub fn value_to_flat_string(v: &Value) -> Option<Vec<u8>> {
    Some(match v {
        Value::Str(s) => s.as_bytes().to_vec(),
        Value::Bytes(b) => b.clone(),
        Value::Int(i) => i.to_string().into_bytes(),
        Value::Bool(b) => b.to_string().into_bytes(),
        Value::Null => b"<nil>".to_vec(),
        Value::Float(f) => {
            let mut s = if f.is_nan() {
                "NaN".to_string()
            } else if f.is_infinite() {
                if *f > 0.0 { "+Inf" } else { "-Inf" }.to_string()
            } else {
                format_float_g(*f).replace('e', "E")
            };
            if !s.contains(['.', 'E']) {
                s.push_str(".0");
            }
            s.into_bytes()
        }
        Value::Time(t) => strip_fraction(&t.0).into_bytes(),
        Value::Branch(_) | Value::List(_) | Value::Comment(_) => return None,
    })
}

/// `2024-01-02T03:04:05.5Z` → `2024-01-02T03:04:05Z` (Go `Format(time.RFC3339)`).
fn strip_fraction(t: &str) -> String {
    match t.find('.') {
        Some(dot) => {
            let rest = t.get(dot + 1..).unwrap_or_default();
            let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
            format!(
                "{}{}",
                t.get(..dot).unwrap_or(t),
                rest.get(digits..).unwrap_or_default()
            )
        }
        None => t.to_string(),
    }
}

/// One step of a flattened key.
#[derive(Debug, Clone, PartialEq)]
enum Segment {
    Map(String),
    List(u64),
}

/// Split `age__list_0__map_enc` into `age`, `[List(0), Map("enc")]`.
fn split_key(key: &str) -> Result<(String, Vec<Segment>), StoreError> {
    let bad = |why: &str| StoreError::Unsupported {
        line: None,
        column: None,
        message: format!("invalid flattened metadata key {key:?}: {why}"),
    };
    let next_sep = |s: &str| -> Option<usize> {
        match (s.find(MAP), s.find(LIST)) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    };
    let (top, mut rest) = match next_sep(key) {
        Some(i) => (&key[..i], &key[i..]),
        None => (key, ""),
    };
    if top.is_empty() {
        return Err(bad("empty top-level name"));
    }
    let mut segs = Vec::new();
    while !rest.is_empty() {
        if segs.len() >= MAX_SEGMENTS {
            return Err(StoreError::Limit {
                message: format!("flattened metadata key has more than {MAX_SEGMENTS} segments"),
            });
        }
        if let Some(r) = rest.strip_prefix(MAP) {
            let end = next_sep(r).unwrap_or(r.len());
            segs.push(Segment::Map(r[..end].to_string()));
            rest = &r[end..];
        } else if let Some(r) = rest.strip_prefix(LIST) {
            let end = next_sep(r).unwrap_or(r.len());
            let digits = &r[..end];
            if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
                return Err(bad("a list index is not a number"));
            }
            let i: u64 = digits.parse().map_err(|_| bad("list index out of range"))?;
            segs.push(Segment::List(i));
            rest = &r[end..];
        } else {
            return Err(bad("unexpected segment"));
        }
    }
    Ok((top.to_string(), segs))
}

/// A tree under construction: maps keep first-seen order, lists are keyed by index.
enum Node {
    Leaf(String),
    Map(Vec<(String, Node)>),
    List(Vec<(u64, Node)>),
}

impl Node {
    fn into_value(self) -> Value {
        match self {
            Node::Leaf(s) => Value::Str(s),
            Node::Map(m) => Value::Branch(Branch {
                items: m
                    .into_iter()
                    .map(|(k, n)| Item::Pair(k, n.into_value()))
                    .collect(),
            }),
            Node::List(mut l) => {
                l.sort_by_key(|(i, _)| *i);
                Value::List(l.into_iter().map(|(_, n)| n.into_value()).collect())
            }
        }
    }
}

fn conflict(key: &str) -> StoreError {
    StoreError::Unsupported {
        line: None,
        column: None,
        message: format!("flattened metadata key {key:?} conflicts with another key"),
    }
}

/// Insert `value` at `segs` below `node` (which must be a map or list, created on demand).
fn insert(node: &mut Node, segs: &[Segment], value: &str, key: &str) -> Result<(), StoreError> {
    let Some((first, rest)) = segs.split_first() else {
        return Err(conflict(key));
    };
    let child: &mut Node = match (node, first) {
        (Node::Map(m), Segment::Map(k)) => {
            let pos = match m.iter().position(|(name, _)| name == k) {
                Some(p) => p,
                None => {
                    m.push((k.clone(), empty_for(rest, value)));
                    m.len() - 1
                }
            };
            match m.get_mut(pos) {
                Some((_, n)) => n,
                None => return Err(conflict(key)),
            }
        }
        (Node::List(l), Segment::List(i)) => {
            let pos = match l.iter().position(|(idx, _)| idx == i) {
                Some(p) => p,
                None => {
                    l.push((*i, empty_for(rest, value)));
                    l.len() - 1
                }
            };
            match l.get_mut(pos) {
                Some((_, n)) => n,
                None => return Err(conflict(key)),
            }
        }
        _ => return Err(conflict(key)),
    };
    if rest.is_empty() {
        match child {
            Node::Leaf(s) => {
                // A repeated key: the last one wins, as in a Go map.
                *s = value.to_string();
                Ok(())
            }
            _ => Err(conflict(key)),
        }
    } else {
        insert(child, rest, value, key)
    }
}

/// The node to create for a path whose remaining segments are `rest`.
fn empty_for(rest: &[Segment], value: &str) -> Node {
    match rest.first() {
        None => Node::Leaf(value.to_string()),
        Some(Segment::Map(_)) => Node::Map(Vec::new()),
        Some(Segment::List(_)) => Node::List(Vec::new()),
    }
}

/// Rebuild a metadata tree from flattened pairs (without the `sops_` prefix). All values
/// stay strings; the metadata module converts `shamir_threshold` and friends. Maps keep
/// the order in which their keys first appear, lists are ordered by index.
///
/// Errors: a key that is both a value and a container, a list index that is not a number,
/// or a key with more than 64 segments.
pub fn unflatten(pairs: &[(String, String)]) -> Result<Branch, StoreError> {
    let mut root = Node::Map(Vec::new());
    for (key, value) in pairs {
        let (top, mut segs) = split_key(key)?;
        segs.insert(0, Segment::Map(top));
        insert(&mut root, &segs, value, key)?;
    }
    match root.into_value() {
        Value::Branch(b) => Ok(b),
        _ => Ok(Branch::default()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn s(x: &str) -> Value {
        Value::Str(x.to_string())
    }

    fn pair(k: &str, v: Value) -> Item {
        Item::Pair(k.to_string(), v)
    }

    fn sample() -> Branch {
        Branch {
            items: vec![
                pair("shamir_threshold", Value::Int(2)),
                pair(
                    "age",
                    Value::List(vec![Value::Branch(Branch {
                        items: vec![pair("recipient", s("age1x")), pair("enc", s("A\nB\n"))],
                    })]),
                ),
                pair("lastmodified", s("2026-11-25T16:45:24Z")),
                pair("mac", s("ENC[...]")),
                pair("pgp", Value::List(vec![])),
                pair("hc_vault", Value::Null),
                pair("mac_only_encrypted", Value::Bool(true)),
                pair("version", s("3.11.0")),
            ],
        }
    }

    #[test]
    fn flat_strings_match_sops_val_to_string() {
        let f = |v: Value| String::from_utf8(value_to_flat_string(&v).unwrap()).unwrap();
        assert_eq!(f(Value::Int(5)), "5");
        assert_eq!(f(Value::Float(5.0)), "5.0");
        assert_eq!(f(Value::Float(1.5)), "1.5");
        assert_eq!(f(Value::Float(1e21)), "1E+21");
        assert_eq!(f(Value::Float(1e-7)), "1E-07");
        assert_eq!(f(Value::Float(f64::INFINITY)), "+Inf.0");
        assert_eq!(f(Value::Bool(true)), "true");
        assert_eq!(f(Value::Null), "<nil>");
        assert_eq!(
            f(Value::Time(crate::tree::Timestamp(
                "2024-01-02T03:04:05.5Z".into()
            ))),
            "2024-01-02T03:04:05Z"
        );
        assert_eq!(
            f(Value::Time(crate::tree::Timestamp(
                "2024-01-02T03:04:05+02:00".into()
            ))),
            "2024-01-02T03:04:05+02:00"
        );
        assert!(value_to_flat_string(&Value::List(vec![])).is_none());
    }

    #[test]
    fn flatten_known_answer() {
        let got = flatten(&sample());
        let want: Vec<(String, String)> = [
            ("age__list_0__map_enc", "A\nB\n"),
            ("age__list_0__map_recipient", "age1x"),
            ("lastmodified", "2026-11-25T16:45:24Z"),
            ("mac", "ENC[...]"),
            ("mac_only_encrypted", "true"),
            ("shamir_threshold", "2"),
            ("version", "3.11.0"),
        ]
        .iter()
        .map(|(a, b)| (a.to_string(), b.to_string()))
        .collect();
        assert_eq!(got, want);
    }

    #[test]
    fn key_groups_flatten_nested() {
        let group = Value::Branch(Branch {
            items: vec![
                pair("hc_vault", Value::Null),
                pair(
                    "age",
                    Value::List(vec![Value::Branch(Branch {
                        items: vec![pair("recipient", s("r"))],
                    })]),
                ),
            ],
        });
        let tree = Branch {
            items: vec![pair("key_groups", Value::List(vec![group.clone(), group]))],
        };
        let got = flatten(&tree);
        assert_eq!(got.len(), 2);
        assert_eq!(
            got[0].0,
            "key_groups__list_0__map_age__list_0__map_recipient"
        );
        assert_eq!(
            got[1].0,
            "key_groups__list_1__map_age__list_0__map_recipient"
        );
    }

    #[test]
    fn unflatten_known_answer() {
        let pairs: Vec<(String, String)> = flatten(&sample());
        let tree = unflatten(&pairs).unwrap();
        let Some(Item::Pair(k, Value::List(age))) = tree.items.first() else {
            panic!("age first: {tree:?}");
        };
        assert_eq!(k, "age");
        let Some(Value::Branch(entry)) = age.first() else {
            panic!("age entry");
        };
        assert_eq!(
            entry.items,
            vec![pair("enc", s("A\nB\n")), pair("recipient", s("age1x"))]
        );
        assert!(tree.items.contains(&pair("shamir_threshold", s("2"))));
    }

    #[test]
    fn unflatten_orders_lists_by_index_and_tolerates_gaps() {
        let pairs = vec![
            ("l__list_10".to_string(), "b".to_string()),
            ("l__list_2".to_string(), "a".to_string()),
        ];
        let tree = unflatten(&pairs).unwrap();
        assert_eq!(
            tree.items,
            vec![pair("l", Value::List(vec![s("a"), s("b")]))]
        );
    }

    #[test]
    fn unflatten_rejects_conflicts_and_bad_indices() {
        let p = |v: &[(&str, &str)]| -> Vec<(String, String)> {
            v.iter()
                .map(|(a, b)| (a.to_string(), b.to_string()))
                .collect()
        };
        assert!(matches!(
            unflatten(&p(&[("a", "1"), ("a__map_b", "2")])),
            Err(StoreError::Unsupported { .. })
        ));
        assert!(matches!(
            unflatten(&p(&[("a__map_b", "2"), ("a", "1")])),
            Err(StoreError::Unsupported { .. })
        ));
        assert!(matches!(
            unflatten(&p(&[("a__list_0", "1"), ("a__map_b", "2")])),
            Err(StoreError::Unsupported { .. })
        ));
        assert!(matches!(
            unflatten(&p(&[("a__list_x", "1")])),
            Err(StoreError::Unsupported { .. })
        ));
        assert!(matches!(
            unflatten(&p(&[("__map_a", "1")])),
            Err(StoreError::Unsupported { .. })
        ));
        let deep = format!("a{}", "__map_b".repeat(100));
        assert!(matches!(
            unflatten(&p(&[(deep.as_str(), "1")])),
            Err(StoreError::Limit { .. })
        ));
    }

    fn arb_key() -> impl Strategy<Value = String> {
        "[a-z][a-z_]{0,6}".prop_filter("no separators", |k| !k.contains("__") && !k.ends_with('_'))
    }

    fn arb_value() -> impl Strategy<Value = Value> {
        let leaf = prop_oneof![
            any::<String>().prop_map(Value::Str),
            any::<i64>().prop_map(Value::Int),
            any::<bool>().prop_map(Value::Bool),
            Just(Value::Null),
        ];
        leaf.prop_recursive(4, 24, 4, |inner| {
            prop_oneof![
                // Elements that flatten to nothing would renumber the list on a round
                // trip (as in sops), so list elements always carry a value here.
                prop::collection::vec(inner.clone(), 0..4).prop_map(|items| {
                    Value::List(
                        items
                            .into_iter()
                            .map(|v| {
                                let mut probe = Vec::new();
                                flatten_value(String::new(), &v, &mut probe);
                                if probe.is_empty() {
                                    Value::Str("x".into())
                                } else {
                                    v
                                }
                            })
                            .collect(),
                    )
                }),
                prop::collection::vec((arb_key(), inner), 0..4).prop_map(|kv| {
                    let mut seen = std::collections::HashSet::new();
                    Value::Branch(Branch {
                        items: kv
                            .into_iter()
                            .filter(|(k, _)| seen.insert(k.clone()))
                            .map(|(k, v)| Item::Pair(k, v))
                            .collect(),
                    })
                }),
            ]
        })
    }

    fn arb_tree() -> impl Strategy<Value = Branch> {
        arb_value().prop_map(|v| match v {
            Value::Branch(b) => b,
            other => Branch {
                items: vec![Item::Pair("top".to_string(), other)],
            },
        })
    }

    proptest! {
        #[test]
        fn flatten_unflatten_flatten_is_stable(tree in arb_tree()) {
            let flat = flatten(&tree);
            let back = unflatten(&flat).unwrap();
            prop_assert_eq!(flatten(&back), flat);
        }

        #[test]
        fn flatten_is_sorted(tree in arb_tree()) {
            let flat = flatten(&tree);
            prop_assert!(flat.windows(2).all(|w| w[0].0.as_bytes() <= w[1].0.as_bytes()));
        }
    }
}
