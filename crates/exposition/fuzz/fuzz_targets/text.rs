//! Text format: never panic; whatever parses re-encodes to text that parses to the same families.
#![no_main]

use hearth_exposition::{FamilyCollector, MetricFamily, TextParser, encode_text};
use libfuzzer_sys::fuzz_target;

fn collect(input: &[u8]) -> Option<Vec<MetricFamily>> {
    let mut p = TextParser::new(input).ok()?;
    let mut c = FamilyCollector::new();
    while let Some(e) = p.next().ok()? {
        c.push(&e);
    }
    Some(c.finish())
}

fuzz_target!(|data: &[u8]| {
    let Some(families) = collect(data) else { return };
    let mut out = String::new();
    encode_text(&families, &mut out);
    let again = collect(out.as_bytes()).unwrap_or_else(|| panic!("re-encoded text does not parse:\n{out}"));
    let mut twice = String::new();
    encode_text(&again, &mut twice);
    assert_eq!(out, twice, "encoding is not stable");
});
