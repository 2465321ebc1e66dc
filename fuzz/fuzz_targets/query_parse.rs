#![no_main]

#[path = "../src/checks.rs"]
mod checks;

use std::sync::LazyLock;

use libfuzzer_sys::fuzz_target;

static TARGET: LazyLock<checks::QueryTarget> = LazyLock::new(checks::QueryTarget::new);

fuzz_target!(|data: &[u8]| TARGET.check(data));
