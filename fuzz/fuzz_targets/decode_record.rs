#![no_main]

#[path = "../src/checks.rs"]
mod checks;

use std::sync::LazyLock;

use hoptrail_schemas::Decoder;
use libfuzzer_sys::fuzz_target;

static DECODER: LazyLock<Decoder> = LazyLock::new(Decoder::new);

fuzz_target!(|data: &[u8]| checks::decode_record(&DECODER, data));
