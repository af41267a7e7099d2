//! Fuzz `.sops.yaml` parsing, and rule matching on a few paths when it parses.

#![no_main]

use std::path::Path;

use libfuzzer_sys::fuzz_target;
use seal::config::Config;

#[path = "common.rs"]
mod common;

fuzz_target!(|data: &[u8]| {
    common::guard(|| {
        if let Ok(cfg) = Config::parse(data, Path::new("/repo/.sops.yaml")) {
            for p in ["/repo/a/secret.yaml", "/repo/x.env", "/elsewhere/b.json", "/repo"] {
                let _ = cfg.rule_for(Path::new(p));
            }
        }
    });
});
