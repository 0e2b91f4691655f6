//! OpenMetrics: never panic in lenient or strict mode (with the validator); whatever parses
//! leniently re-encodes to OpenMetrics that parses to the same text again.
#![no_main]

use hearth_exposition::{
    FamilyCollector, MetricFamily, OpenMetricsOptions, OpenMetricsParser, OpenMetricsValidator, encode_openmetrics,
};
use libfuzzer_sys::fuzz_target;

fn collect(input: &[u8], opts: OpenMetricsOptions) -> Option<Vec<MetricFamily>> {
    let mut p = OpenMetricsParser::new(input, opts).ok()?;
    let mut c = FamilyCollector::new();
    while let Some(e) = p.next().ok()? {
        c.push(&e);
    }
    Some(c.finish())
}

fuzz_target!(|data: &[u8]| {
    let strict = OpenMetricsOptions { strict: true, ..Default::default() };
    if let Ok(mut p) = OpenMetricsParser::new(data, strict) {
        let mut v = OpenMetricsValidator::new();
        while let Ok(Some(e)) = p.next() {
            let _ = v.entry(&e);
        }
        let _ = v.finish();
    }
    let ct = OpenMetricsOptions { created_timestamps: true, skip_created_series: true, ..Default::default() };
    let _ = collect(data, ct);
    let Some(families) = collect(data, OpenMetricsOptions::default()) else { return };
    let mut out = String::new();
    encode_openmetrics(&families, &mut out);
    let again = collect(out.as_bytes(), OpenMetricsOptions::default())
        .unwrap_or_else(|| panic!("re-encoded OpenMetrics does not parse:\n{out}"));
    let mut twice = String::new();
    encode_openmetrics(&again, &mut twice);
    assert_eq!(out, twice, "encoding is not stable");
});
