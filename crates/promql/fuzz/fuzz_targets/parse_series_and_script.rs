//! Any input: the series-description and test-script parsers never panic.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(input) = std::str::from_utf8(data) else {
        return;
    };
    let _ = hearth_promql::parse_series_desc(input);
    let _ = hearth_promql::promqltest::parse_script(input);
    let _ = hearth_promql::parse_metric_selector(input);
});
