//! Three-way merge of plaintext document trees, key by key (the git merge driver's core).
//! Pure: no I/O, no crypto. A key changed on one side only takes that side's value; a key
//! changed on both sides to different values is a [`Conflict`], never resolved silently.
//! Lists and scalars are compared as whole values; mappings are merged recursively.

use crate::tree::{Branch, Item, Value};

/// What a conflict is about.
#[derive(Clone, Debug, PartialEq)]
pub enum ConflictKind {
    /// Both sides changed (or added, or one deleted and the other changed) the value at
    /// the path differently.
    Value {
        /// The common ancestor's value (`None`: absent).
        base: Option<Value>,
        /// Our value (`None`: deleted).
        ours: Option<Value>,
        /// Their value (`None`: deleted).
        theirs: Option<Value>,
    },
    /// Both sides changed the comments of the mapping at the path differently (ours kept).
    Comments,
    /// The sides have different numbers of documents that cannot be paired (ours kept).
    Documents,
}

/// One conflict: where, and what.
#[derive(Clone, Debug, PartialEq)]
pub struct Conflict {
    /// The document (0-based).
    pub doc: usize,
    /// The mapping keys from the document root to the value.
    pub path: Vec<String>,
    /// What conflicts.
    pub kind: ConflictKind,
}

impl Conflict {
    /// The path in sops's syntax (`["stringData"]["PASSWORD"]`), prefixed with the document
    /// number when there are several; keys only, never values.
    pub fn describe(&self, docs: usize) -> String {
        let mut s = String::new();
        if docs > 1 {
            s.push_str(&format!("document {}: ", self.doc + 1));
        }
        if self.path.is_empty() {
            s.push_str("(the document)");
        }
        for k in &self.path {
            s.push_str(&format!("[{k:?}]"));
        }
        match self.kind {
            ConflictKind::Value { .. } => {}
            ConflictKind::Comments => s.push_str(" (comments)"),
            ConflictKind::Documents => s.push_str(" (number of documents)"),
        }
        s
    }
}

/// The result of a merge: the merged documents (at a conflict, our value, or theirs when we
/// deleted it) and the conflicts.
#[derive(Clone, Debug, PartialEq)]
pub struct Merged {
    /// The merged documents.
    pub docs: Vec<Branch>,
    /// Every conflict, in document order.
    pub conflicts: Vec<Conflict>,
}

/// Merge three versions of a file's documents.
pub fn merge_docs(base: &[Branch], ours: &[Branch], theirs: &[Branch]) -> Merged {
    let same_docs = |a: &[Branch], b: &[Branch]| {
        a.len() == b.len() && a.iter().zip(b).all(|(x, y)| same_branch(x, y))
    };
    if same_docs(ours, theirs) || same_docs(theirs, base) {
        return Merged {
            docs: ours.to_vec(),
            conflicts: Vec::new(),
        };
    }
    if same_docs(ours, base) {
        return Merged {
            docs: theirs.to_vec(),
            conflicts: Vec::new(),
        };
    }
    if ours.len() != theirs.len() {
        return Merged {
            docs: ours.to_vec(),
            conflicts: vec![Conflict {
                doc: 0,
                path: Vec::new(),
                kind: ConflictKind::Documents,
            }],
        };
    }
    let empty = Branch::default();
    let mut docs = Vec::with_capacity(ours.len());
    let mut conflicts = Vec::new();
    for (i, (o, t)) in ours.iter().zip(theirs).enumerate() {
        let b = base.get(i).unwrap_or(&empty);
        let mut path = Vec::new();
        let mut found = Vec::new();
        docs.push(merge_branch(b, o, t, &mut path, &mut found));
        conflicts.extend(
            found
                .into_iter()
                .map(|(path, kind)| Conflict { doc: i, path, kind }),
        );
    }
    Merged { docs, conflicts }
}

fn comments(b: &Branch) -> Vec<&str> {
    b.items
        .iter()
        .filter_map(|i| match i {
            Item::Comment(c) => Some(c.as_str()),
            Item::Pair(..) => None,
        })
        .collect()
}

fn merge_branch(
    base: &Branch,
    ours: &Branch,
    theirs: &Branch,
    path: &mut Vec<String>,
    conflicts: &mut Vec<(Vec<String>, ConflictKind)>,
) -> Branch {
    if same_branch(ours, theirs) || same_branch(theirs, base) {
        return ours.clone();
    }
    if same_branch(ours, base) {
        return theirs.clone();
    }
    // The side whose layout (order, comments) the result follows: ours, unless only theirs
    // changed the comments.
    let (cb, co, ct) = (comments(base), comments(ours), comments(theirs));
    let theirs_skeleton = co == cb && ct != cb;
    if co != cb && ct != cb && co != ct {
        conflicts.push((path.clone(), ConflictKind::Comments));
    }
    let (skel, other) = if theirs_skeleton {
        (theirs, ours)
    } else {
        (ours, theirs)
    };
    let mut items = Vec::with_capacity(skel.items.len());
    let mut merge_key = |k: &str, items: &mut Vec<Item>| {
        path.push(k.to_string());
        if let Some(v) = merge_value(
            base.get(k),
            ours.get(k),
            theirs.get(k),
            &mut *path,
            &mut *conflicts,
        ) {
            items.push(Item::Pair(k.to_string(), v));
        }
        path.pop();
    };
    for item in &skel.items {
        match item {
            Item::Comment(c) => items.push(Item::Comment(c.clone())),
            Item::Pair(k, _) => merge_key(k, &mut items),
        }
    }
    for item in &other.items {
        if let Item::Pair(k, _) = item
            && skel.get(k).is_none()
        {
            merge_key(k, &mut items);
        }
    }
    Branch { items }
}

fn merge_value(
    base: Option<&Value>,
    ours: Option<&Value>,
    theirs: Option<&Value>,
    path: &mut Vec<String>,
    conflicts: &mut Vec<(Vec<String>, ConflictKind)>,
) -> Option<Value> {
    let eq = |a: Option<&Value>, b: Option<&Value>| match (a, b) {
        (None, None) => true,
        (Some(x), Some(y)) => same(x, y),
        _ => false,
    };
    if eq(ours, theirs) || eq(theirs, base) {
        return ours.cloned();
    }
    if eq(ours, base) {
        return theirs.cloned();
    }
    // Both changed, differently.
    if let (Some(Value::Branch(o)), Some(Value::Branch(t))) = (ours, theirs) {
        let empty = Branch::default();
        let b = match base {
            Some(Value::Branch(b)) => b,
            _ => &empty,
        };
        return Some(Value::Branch(merge_branch(b, o, t, path, conflicts)));
    }
    conflicts.push((
        path.clone(),
        ConflictKind::Value {
            base: base.cloned(),
            ours: ours.cloned(),
            theirs: theirs.cloned(),
        },
    ));
    ours.or(theirs).cloned()
}

/// Structural equality of two mappings, comments and order included (floats by bits, so
/// an unchanged NaN is unchanged).
pub fn same_branch(a: &Branch, b: &Branch) -> bool {
    a.items.len() == b.items.len()
        && a.items.iter().zip(&b.items).all(|(x, y)| match (x, y) {
            (Item::Pair(ka, va), Item::Pair(kb, vb)) => ka == kb && same(va, vb),
            (Item::Comment(ca), Item::Comment(cb)) => ca == cb,
            _ => false,
        })
}

/// Structural equality of two values (floats by bits).
pub fn same(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Branch(x), Value::Branch(y)) => same_branch(x, y),
        (Value::List(x), Value::List(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(p, q)| same(p, q))
        }
        (Value::Float(x), Value::Float(y)) => x.to_bits() == y.to_bits(),
        _ => a == b,
    }
}

/// The text a conflicting value is replaced with, git style: our value, the base, their
/// value, each rendered by `render` (`None`: absent or deleted).
pub fn marker_text(
    base: Option<&Value>,
    ours: Option<&Value>,
    theirs: Option<&Value>,
    render: &dyn Fn(&Value) -> String,
) -> String {
    let show = |v: Option<&Value>| match v {
        Some(v) => {
            let mut s = render(v);
            if !s.ends_with('\n') {
                s.push('\n');
            }
            s
        }
        None => "(absent)\n".to_string(),
    };
    format!(
        "<<<<<<< ours\n{}||||||| base\n{}=======\n{}>>>>>>> theirs\n",
        show(ours),
        show(base),
        show(theirs)
    )
}

/// Replace the value of every [`ConflictKind::Value`] conflict in `docs` with a string
/// holding [`marker_text`], so that the conflict is visible (and must be resolved) when
/// the file is next edited.
pub fn mark_conflicts(
    docs: &mut [Branch],
    conflicts: &[Conflict],
    render: &dyn Fn(&Value) -> String,
) {
    for c in conflicts {
        let ConflictKind::Value { base, ours, theirs } = &c.kind else {
            continue;
        };
        let text = marker_text(base.as_ref(), ours.as_ref(), theirs.as_ref(), render);
        if let Some(doc) = docs.get_mut(c.doc)
            && let Some(slot) = value_at_mut(doc, &c.path)
        {
            *slot = Value::Str(text);
        }
    }
}

fn value_at_mut<'a>(doc: &'a mut Branch, path: &[String]) -> Option<&'a mut Value> {
    let (first, rest) = path.split_first()?;
    let mut cur = doc.items.iter_mut().find_map(|i| match i {
        Item::Pair(k, v) if k == first => Some(v),
        _ => None,
    })?;
    for k in rest {
        let Value::Branch(b) = cur else {
            return None;
        };
        cur = b.items.iter_mut().find_map(|i| match i {
            Item::Pair(kk, v) if kk == k => Some(v),
            _ => None,
        })?;
    }
    Some(cur)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn mm(base: &Branch, ours: &Branch, theirs: &Branch) -> Merged {
        merge_docs(
            std::slice::from_ref(base),
            std::slice::from_ref(ours),
            std::slice::from_ref(theirs),
        )
    }

    fn s(v: &str) -> Value {
        Value::Str(v.into())
    }
    fn b(pairs: Vec<(&str, Value)>) -> Branch {
        Branch {
            items: pairs
                .into_iter()
                .map(|(k, v)| Item::Pair(k.into(), v))
                .collect(),
        }
    }
    fn secret(user: &str, pass: &str) -> Branch {
        b(vec![
            ("kind", s("Secret")),
            (
                "stringData",
                Value::Branch(b(vec![("USER", s(user)), ("PASS", s(pass))])),
            ),
        ])
    }

    #[test]
    fn different_keys_merge_cleanly() {
        let base = secret("u", "p");
        let ours = secret("u2", "p");
        let theirs = secret("u", "p2");
        let m = mm(&base, &ours, &theirs);
        assert!(m.conflicts.is_empty());
        assert_eq!(m.docs, vec![secret("u2", "p2")]);
    }

    #[test]
    fn same_key_changed_twice_is_a_conflict_with_all_three_values() {
        let m = merge_docs(
            &[secret("u", "p")],
            &[secret("u", "A")],
            &[secret("u", "B")],
        );
        assert_eq!(m.conflicts.len(), 1);
        let c = &m.conflicts[0];
        assert_eq!(c.path, vec!["stringData".to_string(), "PASS".to_string()]);
        assert_eq!(
            c.kind,
            ConflictKind::Value {
                base: Some(s("p")),
                ours: Some(s("A")),
                theirs: Some(s("B"))
            }
        );
        assert_eq!(c.describe(1), r#"["stringData"]["PASS"]"#);
        // The same change on both sides is no conflict.
        let m = merge_docs(
            &[secret("u", "p")],
            &[secret("u", "A")],
            &[secret("u", "A")],
        );
        assert!(m.conflicts.is_empty());
    }

    #[test]
    fn additions_and_deletions() {
        let base = b(vec![("a", s("1")), ("b", s("2"))]);
        // Ours deletes b, theirs adds c.
        let ours = b(vec![("a", s("1"))]);
        let theirs = b(vec![("a", s("1")), ("b", s("2")), ("c", s("3"))]);
        let m = mm(&base, &ours, &theirs);
        assert!(m.conflicts.is_empty());
        assert_eq!(m.docs[0], b(vec![("a", s("1")), ("c", s("3"))]));
        // Ours deletes b, theirs changes it: conflict, their value kept as placeholder.
        let ours = b(vec![("a", s("1"))]);
        let theirs = b(vec![("a", s("1")), ("b", s("9"))]);
        let m = mm(&base, &ours, &theirs);
        assert_eq!(m.conflicts.len(), 1);
        assert_eq!(m.docs[0].get("b"), Some(&s("9")));
        // Both add the same key with different values.
        let ours = b(vec![("a", s("1")), ("b", s("2")), ("n", s("x"))]);
        let theirs = b(vec![("a", s("1")), ("b", s("2")), ("n", s("y"))]);
        let m = mm(&base, &ours, &theirs);
        assert_eq!(m.conflicts.len(), 1);
        assert_eq!(m.conflicts[0].path, vec!["n".to_string()]);
    }

    #[test]
    fn comments_follow_the_side_that_changed_them() {
        let base = b(vec![("a", s("1")), ("b", s("2"))]);
        let mut theirs = base.clone();
        theirs.items.insert(0, Item::Comment(" new note".into()));
        let ours = b(vec![("a", s("X")), ("b", s("2"))]);
        let m = mm(&base, &ours, &theirs);
        assert!(m.conflicts.is_empty());
        assert_eq!(m.docs[0].items[0], Item::Comment(" new note".into()));
        assert_eq!(m.docs[0].get("a"), Some(&s("X")));
        // Both sides change comments differently (and values): reported.
        let mut ours2 = ours;
        ours2.items.push(Item::Comment(" mine".into()));
        let mut theirs2 = b(vec![("a", s("1")), ("b", s("Y"))]);
        theirs2.items.push(Item::Comment(" theirs".into()));
        let m = mm(&base, &ours2, &theirs2);
        assert_eq!(m.conflicts.len(), 1);
        assert_eq!(m.conflicts[0].kind, ConflictKind::Comments);
    }

    #[test]
    fn nan_is_unchanged_not_conflicting() {
        let d = b(vec![("f", Value::Float(f64::NAN)), ("a", s("1"))]);
        let ours = b(vec![("f", Value::Float(f64::NAN)), ("a", s("2"))]);
        let m = mm(&d, &ours, &d);
        assert!(m.conflicts.is_empty());
    }

    #[test]
    fn document_count_mismatch_is_a_conflict() {
        let x = b(vec![("a", s("1"))]);
        let y = b(vec![("a", s("2"))]);
        let m = merge_docs(std::slice::from_ref(&x), &[x.clone(), y.clone()], &[y]);
        assert_eq!(m.conflicts[0].kind, ConflictKind::Documents);
    }

    #[test]
    fn markers_replace_conflicting_values() {
        let mut m = merge_docs(
            &[secret("u", "p")],
            &[secret("u", "A")],
            &[secret("u", "B")],
        );
        let render = |v: &Value| match v {
            Value::Str(s) => s.clone(),
            other => format!("{other:?}"),
        };
        mark_conflicts(&mut m.docs, &m.conflicts, &render);
        let Some(Value::Branch(sd)) = m.docs[0].get("stringData") else {
            panic!("no stringData")
        };
        assert_eq!(
            sd.get("PASS"),
            Some(&s(
                "<<<<<<< ours\nA\n||||||| base\np\n=======\nB\n>>>>>>> theirs\n"
            ))
        );
        assert_eq!(sd.get("USER"), Some(&s("u")));
    }

    fn leaf() -> impl Strategy<Value = Value> {
        prop_oneof![
            (0i64..3).prop_map(Value::Int),
            "[xy]".prop_map(Value::Str),
            Just(Value::Float(f64::NAN)),
        ]
    }

    fn branch() -> impl Strategy<Value = Branch> {
        let inner = proptest::collection::btree_map("[pq]", leaf(), 0..3).prop_map(|m| Branch {
            items: m.into_iter().map(|(k, v)| Item::Pair(k, v)).collect(),
        });
        let value = prop_oneof![leaf(), inner.prop_map(Value::Branch)];
        proptest::collection::btree_map("[abcd]", value, 0..4).prop_map(|m| Branch {
            items: m.into_iter().map(|(k, v)| Item::Pair(k, v)).collect(),
        })
    }

    proptest! {
        #[test]
        fn one_sided_changes_are_taken(base in branch(), x in branch()) {
            let m = mm(&base, &x, &base);
            prop_assert!(m.conflicts.is_empty());
            prop_assert!(same_branch(&m.docs[0], &x));
            let m = mm(&base, &base, &x);
            prop_assert!(m.conflicts.is_empty());
            prop_assert!(same_branch(&m.docs[0], &x));
            let m = mm(&base, &x, &x);
            prop_assert!(m.conflicts.is_empty());
            prop_assert!(same_branch(&m.docs[0], &x));
        }

        #[test]
        fn conflicts_are_symmetric(base in branch(), o in branch(), t in branch()) {
            let a = mm(&base, &o, &t);
            let b = mm(&base, &t, &o);
            let mut pa: Vec<_> = a.conflicts.iter().map(|c| c.path.clone()).collect();
            let mut pb: Vec<_> = b.conflicts.iter().map(|c| c.path.clone()).collect();
            pa.sort();
            pb.sort();
            prop_assert_eq!(pa, pb);
        }

        #[test]
        fn disjoint_changes_never_conflict(base in branch(), o in branch(), t in branch()) {
            // Ours takes keys a,b from `o`, theirs takes keys c,d from `t`.
            let pick = |from: &Branch, keys: &[&str]| -> Branch {
                let mut out = Branch::default();
                for k in ["a", "b", "c", "d"] {
                    let v = if keys.contains(&k) { from.get(k) } else { base.get(k) };
                    if let Some(v) = v {
                        out.items.push(Item::Pair(k.into(), v.clone()));
                    }
                }
                out
            };
            let ours = pick(&o, &["a", "b"]);
            let theirs = pick(&t, &["c", "d"]);
            let m = mm(&base, &ours, &theirs);
            prop_assert!(m.conflicts.is_empty(), "{:?}", m.conflicts);
            for k in ["a", "b"] {
                let eq = match (m.docs[0].get(k), ours.get(k)) {
                    (None, None) => true,
                    (Some(x), Some(y)) => same(x, y),
                    _ => false,
                };
                prop_assert!(eq, "key {}", k);
            }
            for k in ["c", "d"] {
                let eq = match (m.docs[0].get(k), theirs.get(k)) {
                    (None, None) => true,
                    (Some(x), Some(y)) => same(x, y),
                    _ => false,
                };
                prop_assert!(eq, "key {}", k);
            }
        }
    }
}
