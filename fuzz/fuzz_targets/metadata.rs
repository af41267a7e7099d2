//! Fuzz the `sops` metadata reader: any YAML document's `sops` tree through
//! `Metadata::from_tree`, and a metadata that reads must survive `to_tree` → `from_tree`.

#![no_main]

use libfuzzer_sys::fuzz_target;
use seal::metadata::Metadata;
use seal::stores::Format;

#[path = "common.rs"]
mod common;

fuzz_target!(|data: &[u8]| {
    common::guard(|| {
        let Ok(parsed) = Format::Yaml.store().load_plain(data) else { return };
        // With or without a `sops:` key: the document itself is also tried as metadata.
        let mut trees = Vec::new();
        if let Some(m) = parsed.metadata {
            trees.push(m);
        }
        trees.extend(parsed.docs);
        for tree in &trees {
            if let Ok(meta) = Metadata::from_tree(tree) {
                let again = Metadata::from_tree(&meta.to_tree());
                assert!(again.is_ok(), "metadata written by seal does not read back");
            }
        }
    });
});
