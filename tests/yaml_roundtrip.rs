//! YAML store acceptance tests: layout-preserving round trips over a corpus of realistic
//! files, canonical-writer round trips, and the shared conformance / real-world corpora.

use seal::stores::{EmitOptions, Format, Layout, Store};
use seal::tree::{Branch, Item, Value};

fn store() -> &'static dyn Store {
    Format::Yaml.store()
}

/// Every comment in walk order with the AAD sops gives it (the container's path).
fn comment_paths(docs: &[Branch]) -> Vec<(String, String)> {
    fn walk_branch(b: &Branch, path: &mut Vec<String>, out: &mut Vec<(String, String)>) {
        for it in &b.items {
            match it {
                Item::Comment(c) => out.push((aad(path), c.clone())),
                Item::Pair(k, v) => {
                    path.push(k.clone());
                    walk_value(v, path, out);
                    path.pop();
                }
            }
        }
    }
    fn walk_value(v: &Value, path: &mut Vec<String>, out: &mut Vec<(String, String)>) {
        match v {
            Value::Branch(b) => walk_branch(b, path, out),
            Value::List(l) => {
                for x in l {
                    match x {
                        Value::Comment(c) => out.push((aad(path), c.clone())),
                        other => walk_value(other, path, out),
                    }
                }
            }
            _ => {}
        }
    }
    fn aad(path: &[String]) -> String {
        let mut s = path.join(":");
        s.push(':');
        s
    }
    let mut out = Vec::new();
    for d in docs {
        walk_branch(d, &mut Vec::new(), &mut out);
    }
    out
}

/// Debug helper: `YAML_DUMP=file cargo test --test yaml_roundtrip dump -- --ignored --nocapture`
#[test]
#[ignore]
fn dump() {
    let Ok(path) = std::env::var("YAML_DUMP") else {
        return;
    };
    let bytes = std::fs::read(path).unwrap();
    match store().load_plain(&bytes) {
        Ok(p) => {
            for (a, t) in comment_paths(&p.docs) {
                println!("({a:?}, {t:?})");
            }
            if std::env::var("YAML_TREE").is_ok() {
                println!("{:#?}", p.docs);
            }
        }
        Err(e) => println!("ERROR {e}"),
    }
    let _ = (Layout::none(), EmitOptions::default());
}
