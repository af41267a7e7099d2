//! Shared by every fuzz target: run one input so that a panic the library catches itself
//! (the YAML parser guard) stays an ordinary error, while a panic that escapes seal's API
//! aborts the process and is reported by libFuzzer as a crash.

use std::panic::{self, AssertUnwindSafe};
use std::sync::Once;

static HOOK: Once = Once::new();

/// Run `f` on one input; abort (a libFuzzer crash) if a panic escapes it.
pub fn guard(f: impl FnOnce()) {
    HOOK.call_once(|| {
        // libfuzzer-sys aborts from its panic hook, before any catch_unwind can run; seal
        // itself catches parser panics and turns them into errors, so print and unwind.
        panic::set_hook(Box::new(|info| eprintln!("seal-fuzz: panic: {info}")));
    });
    if panic::catch_unwind(AssertUnwindSafe(f)).is_err() {
        eprintln!("seal-fuzz: a panic escaped seal's API");
        std::process::abort();
    }
}
