//! The real scrape payloads of upstream's parser tests
//! (`../shared/conformance/exposition/prometheus-textparse-testdata`, unedited) parse
//! without error, and parse → encode → parse gives the same metric families.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::PathBuf;

use hearth_exposition::{
    Entry, FamilyCollector, MetricFamily, OpenMetricsOptions, OpenMetricsParser, ParseError,
    TextParser, encode_openmetrics, encode_text,
};

fn data_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../../shared/conformance/exposition/prometheus-textparse-testdata")
}

fn collect_text(input: &[u8]) -> Result<(Vec<MetricFamily>, usize), ParseError> {
    let mut p = TextParser::new(input)?;
    let mut c = FamilyCollector::new();
    let mut samples = 0;
    while let Some(e) = p.next()? {
        samples += usize::from(matches!(e, Entry::Sample(_)));
        c.push(&e);
    }
    Ok((c.finish(), samples))
}

fn collect_om(input: &[u8]) -> Result<(Vec<MetricFamily>, usize), ParseError> {
    let mut p = OpenMetricsParser::new(input, OpenMetricsOptions::default())?;
    let mut c = FamilyCollector::new();
    let mut samples = 0;
    while let Some(e) = p.next()? {
        samples += usize::from(matches!(e, Entry::Sample(_)));
        c.push(&e);
    }
    Ok((c.finish(), samples))
}

/// Families equal, with NaN equal to NaN (bit-exact).
fn assert_same(file: &str, a: &[MetricFamily], b: &[MetricFamily]) {
    assert_eq!(a.len(), b.len(), "{file}: family count");
    for (fa, fb) in a.iter().zip(b) {
        assert_eq!(
            (&fa.name, fa.metric_type, &fa.help, &fa.unit),
            (&fb.name, fb.metric_type, &fb.help, &fb.unit),
            "{file}"
        );
        assert_eq!(fa.samples.len(), fb.samples.len(), "{file}: {}", fa.name);
        for (sa, sb) in fa.samples.iter().zip(&fb.samples) {
            assert_eq!(
                (&sa.name, &sa.labels, sa.timestamp),
                (&sb.name, &sb.labels, sb.timestamp),
                "{file}"
            );
            assert_eq!(
                sa.value.to_bits(),
                sb.value.to_bits(),
                "{file}: {} value",
                sa.name
            );
            assert_eq!(sa.exemplar, sb.exemplar, "{file}: {} exemplar", sa.name);
        }
    }
}

#[test]
fn upstream_payloads_roundtrip() {
    let mut files: Vec<String> = std::fs::read_dir(data_dir())
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter(|n| n.ends_with(".txt"))
        .collect();
    files.sort();
    assert_eq!(files.len(), 4, "{files:?}");
    for file in &files {
        let input = std::fs::read(data_dir().join(file)).unwrap();
        let om = file.ends_with(".om.txt");
        let (families, samples) = if om {
            collect_om(&input)
        } else {
            collect_text(&input)
        }
        .unwrap_or_else(|e| panic!("{file}: {e}"));
        assert!(samples > 0, "{file}: no samples");
        let mut encoded = String::new();
        if om {
            encode_openmetrics(&families, &mut encoded);
        } else {
            encode_text(&families, &mut encoded);
        }
        let (again, samples_again) = if om {
            collect_om(encoded.as_bytes())
        } else {
            collect_text(encoded.as_bytes())
        }
        .unwrap_or_else(|e| panic!("{file} re-encoded: {e}\n{encoded}"));
        assert_eq!(samples, samples_again, "{file}");
        assert_same(file, &families, &again);
        // Encoding is deterministic: a second round gives the same bytes.
        let mut twice = String::new();
        if om {
            encode_openmetrics(&again, &mut twice);
        } else {
            encode_text(&again, &mut twice);
        }
        assert_eq!(encoded, twice, "{file}");
        println!(
            "{file}: {} families, {samples} samples round-trip",
            families.len()
        );
    }
}

/// Text → OpenMetrics → families keeps every sample (values, labels, timestamps).
#[test]
fn text_to_openmetrics_keeps_samples() {
    let input = std::fs::read(data_dir().join("alltypes.237mfs.prom.txt")).unwrap();
    let (families, samples) = collect_text(&input).unwrap();
    let mut om = String::new();
    encode_openmetrics(&families, &mut om);
    let (_, om_samples) = collect_om(om.as_bytes()).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(samples, om_samples);
}
