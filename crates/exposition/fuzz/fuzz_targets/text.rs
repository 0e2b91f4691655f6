//! See `hearth_exposition::properties::check_text` for what this target checks.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| hearth_exposition::properties::check_text(data));
