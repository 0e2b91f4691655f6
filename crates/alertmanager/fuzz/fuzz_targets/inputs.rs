//! Everything the Alertmanager reads from outside before acting on it: alertmanager.yml
//! and matcher strings (API `filter`, amtool arguments). Nothing may panic; a parsed
//! matcher prints as text that parses back to the same matcher.
#![no_main]

use hearth_alertmanager::matcher::parse_matchers;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let _ = hearth_alertmanager::Config::load_str(text, "fuzz.yml");
    if let Ok(ms) = parse_matchers(text) {
        for m in ms {
            let back = parse_matchers(&m.to_string()).expect("printed matcher parses");
            assert_eq!(back, vec![m]);
        }
    }
});
