//! Fuzz the ini store: parse arbitrary bytes as plaintext and as an encrypted file, and when
//! they parse, write them back canonically and with the kept layout (no panic, no hang).

#![no_main]

use libfuzzer_sys::fuzz_target;
use seal::stores::{EmitOptions, Format, Layout};

#[path = "common.rs"]
mod common;

fuzz_target!(|data: &[u8]| {
    common::guard(|| {
        let store = Format::Ini.store();
        let _ = store.load_encrypted(data);
        if let Ok(parsed) = store.load_plain(data) {
            let opts = EmitOptions::default();
            let _ = store.emit_plain(&parsed.docs, &parsed.layout, opts);
            let _ = store.emit_plain(&parsed.docs, &Layout::none(), opts);
            if let Some(meta) = &parsed.metadata {
                let _ = store.emit_encrypted(&parsed.docs, meta, &parsed.layout, opts);
            }
        }
    });
});
