//! Fuzz decryption end to end with a valid key: arbitrary bytes (seeded with real sops
//! files encrypted to the test key alice) go through `commands::common::open` — store,
//! metadata, data-key recovery, value decryption, MAC check — as YAML, JSON, dotenv or INI
//! (picked by the first byte). A mutated file must be an error, never a panic or a hang.

#![no_main]

use std::path::PathBuf;
use std::str::FromStr;
use std::sync::LazyLock;

use libfuzzer_sys::fuzz_target;
use seal::commands::common::{Input, open};
use seal::keys::Identities;
use seal::stores::Format;

#[path = "common.rs"]
mod common;

/// The shared conformance corpus's throw-away test key `alice` (public, never used for
/// anything real).
const ALICE: &str = include_str!("../fuzz-identity.txt");

static IDS: LazyLock<Identities> = LazyLock::new(|| {
    let mut ids = Identities::default();
    for line in ALICE.lines().filter(|l| l.starts_with("AGE-SECRET-KEY-")) {
        if let Ok(id) = age::x25519::Identity::from_str(line) {
            let public = id.to_public().to_string();
            ids.add(Box::new(id), Some(public), "fuzz");
        }
    }
    ids
});

const FORMATS: [Format; 5] = [
    Format::Yaml,
    Format::Json,
    Format::Dotenv,
    Format::Ini,
    Format::Binary,
];

fuzz_target!(|data: &[u8]| {
    common::guard(|| {
        let Some((first, rest)) = data.split_first() else { return };
        let format = FORMATS[usize::from(*first) % FORMATS.len()];
        let input = Input {
            display: PathBuf::from("fuzz"),
            file: None,
            rules_path: None,
            format,
            out_format: format,
            bytes: rest.to_vec(),
        };
        let ignore_mac = first & 0x80 != 0;
        if let Ok(opened) = open(&input, &IDS, ignore_mac, true) {
            // What decrypts must also write back.
            let store = format.store();
            let _ = store.emit_plain(&opened.docs, &opened.layout, Default::default());
        }
    });
});
