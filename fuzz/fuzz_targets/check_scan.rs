//! Fuzz the `seal check` scanner on arbitrary bytes; the first byte picks the file name
//! (and so the format) the scanner sees.

#![no_main]

use libfuzzer_sys::fuzz_target;
use seal::check::scan::{FileContext, scan, scan_text_only};

#[path = "common.rs"]
mod common;

const NAMES: [&str; 8] = [
    "k8s/secret.yaml",
    "app/values.yml",
    "conf/settings.json",
    ".env",
    "db.ini",
    "id_ed25519",
    "README.md",
    "secrets/blob.bin",
];

fuzz_target!(|data: &[u8]| {
    common::guard(|| {
        let Some((first, rest)) = data.split_first() else { return };
        let name = NAMES[usize::from(*first) % NAMES.len()];
        let require = ["age1hkdt4s7er6a00gwcncp4rpklh0m7qg3f7sk3x9dxhmcak6agvaaqu7plpx".to_string()];
        let ctx = FileContext {
            path: name,
            rule: None,
            require: if first & 0x80 != 0 { &require } else { &[] },
        };
        let _ = scan(&ctx, rest);
        let _ = scan_text_only(&ctx, rest);
    });
});
