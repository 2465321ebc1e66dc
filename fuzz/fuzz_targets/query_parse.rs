#![no_main]

#[path = "../src/checks.rs"]
mod checks;

use std::sync::{LazyLock, Once};

use libfuzzer_sys::fuzz_target;

static TARGET: LazyLock<checks::QueryTarget> = LazyLock::new(checks::QueryTarget::new);
static QUIET_PANICS: Once = Once::new();

fuzz_target!(|data: &[u8]| {
    // `parse_query` catches tantivy's own assertion panics and answers them as errors, as the
    // API does; libfuzzer-sys's hook would abort at the panic, before that catch. A panic that
    // escapes the target is still caught by libfuzzer-sys and reported as a crash.
    QUIET_PANICS.call_once(|| std::panic::set_hook(Box::new(|_| {})));
    TARGET.check(data)
});
