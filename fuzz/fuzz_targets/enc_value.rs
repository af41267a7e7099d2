//! Fuzz the `ENC[AES256_GCM,...]` parser; a value that parses must print back to a string
//! that parses to the same value.

#![no_main]

use libfuzzer_sys::fuzz_target;
use seal::cipher::EncValue;

#[path = "common.rs"]
mod common;

fuzz_target!(|data: &[u8]| {
    common::guard(|| {
        let Ok(s) = std::str::from_utf8(data) else { return };
        if let Ok(v) = EncValue::parse(s) {
            let again = EncValue::parse(&v.to_string());
            assert!(again.as_ref() == Ok(&v), "ENC value does not round-trip");
        }
    });
});
