//! Arbitrary bytes as an index file: opening and reading everything must return errors,
//! never panic, hang or allocate without bound.
#![no_main]

use hearth_model::{MatchOp, Matcher};
use hearth_tsdb::index::IndexReader;
use hearth_tsdb::postings::{PostingsSource, postings_for_matchers};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(r) = IndexReader::from_bytes(data.to_vec()) else {
        return;
    };
    let _ = r.verify();
    let mut chunks = Vec::new();
    for i in 0..64 {
        let _ = r.symbol(i);
        let _ = r.series(u64::from(i), &mut chunks);
    }
    for s in r.symbols().take(64).flatten() {
        let _ = r.symbol_ref(s);
    }
    let names: Vec<String> = r.label_names().into_iter().map(String::from).collect();
    for name in names.iter().take(8) {
        let _ = r.visit_label_values(name, "a", &mut |_| true);
        let matchers = [
            Matcher::new(MatchOp::Regex, name.as_str(), "a.*").ok(),
            Matcher::new(MatchOp::NotEqual, name.as_str(), "x").ok(),
            Matcher::new(MatchOp::NotRegex, name.as_str(), "|b").ok(),
        ];
        let matchers: Vec<Matcher> = matchers.into_iter().flatten().collect();
        if let Ok(mut p) = postings_for_matchers(&r, &matchers) {
            let mut n = 0;
            while p.next() && n < 100_000 {
                n += 1;
            }
        }
    }
});
