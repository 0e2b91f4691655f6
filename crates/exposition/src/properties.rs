//! Properties the fuzz targets check, shared with the regression tests so that every
//! input a fuzzer ever broke stays fixed: no parser panics, and whatever parses
//! re-encodes to text that parses to the same families, with a stable encoding.

use crate::{
    FamilyCollector, MetricFamily, OpenMetricsOptions, OpenMetricsParser, OpenMetricsValidator,
    ProtobufOptions, ProtobufParser, TextParser, encode_openmetrics, encode_text,
};

fn collect_text(input: &[u8]) -> Option<Vec<MetricFamily>> {
    let mut p = TextParser::new(input).ok()?;
    let mut c = FamilyCollector::new();
    while let Some(e) = p.next().ok()? {
        c.push(&e);
    }
    Some(c.finish())
}

fn collect_openmetrics(input: &[u8], opts: OpenMetricsOptions) -> Option<Vec<MetricFamily>> {
    let mut p = OpenMetricsParser::new(input, opts).ok()?;
    let mut c = FamilyCollector::new();
    while let Some(e) = p.next().ok()? {
        c.push(&e);
    }
    Some(c.finish())
}

/// Text format: parse, re-encode, parse again; panics when the property fails.
pub fn check_text(input: &[u8]) {
    let Some(families) = collect_text(input) else {
        return;
    };
    let mut out = String::new();
    encode_text(&families, &mut out);
    let again = collect_text(out.as_bytes())
        .unwrap_or_else(|| panic!("re-encoded text does not parse:\n{out}"));
    let mut twice = String::new();
    encode_text(&again, &mut twice);
    assert_eq!(out, twice, "text encoding is not stable");
}

/// OpenMetrics: every parser mode and the validator survive; lenient parses round-trip.
pub fn check_openmetrics(input: &[u8]) {
    let strict = OpenMetricsOptions {
        strict: true,
        ..Default::default()
    };
    if let Ok(mut p) = OpenMetricsParser::new(input, strict) {
        let mut v = OpenMetricsValidator::new();
        while let Ok(Some(e)) = p.next() {
            let _ = v.entry(&e);
        }
        let _ = v.finish();
    }
    let created = OpenMetricsOptions {
        created_timestamps: true,
        skip_created_series: true,
        ..Default::default()
    };
    let _ = collect_openmetrics(input, created);
    let Some(families) = collect_openmetrics(input, OpenMetricsOptions::default()) else {
        return;
    };
    let mut out = String::new();
    encode_openmetrics(&families, &mut out);
    let again = collect_openmetrics(out.as_bytes(), OpenMetricsOptions::default())
        .unwrap_or_else(|| panic!("re-encoded OpenMetrics does not parse:\n{out}"));
    let mut twice = String::new();
    encode_openmetrics(&again, &mut twice);
    assert_eq!(out, twice, "OpenMetrics encoding is not stable");
}

/// Protobuf: arbitrary bytes never panic, with or without classic histogram expansion.
pub fn check_protobuf(input: &[u8]) {
    for (parse_classic_histograms, ignore_native_histograms) in
        [(false, false), (true, false), (false, true)]
    {
        let mut p = ProtobufParser::new(
            input,
            ProtobufOptions {
                parse_classic_histograms,
                ignore_native_histograms,
            },
        );
        while let Ok(Some(_)) = p.next() {}
    }
}
