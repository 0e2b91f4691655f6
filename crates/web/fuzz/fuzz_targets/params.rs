//! Everything the API reads from a request or the web config file before any query
//! runs: form bodies, times, durations, `limit`, `match[]` selectors, `U__` label names,
//! and the web configuration YAML. Nothing may panic; JSON string escaping must read
//! back as the same string.
#![no_main]

use hearth_web::params::{self, Form};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let form = Form::from_query(text);
    for name in ["time", "start", "end", "step", "timeout", "limit", "match[]"] {
        let v = form.value(name);
        let _ = params::parse_time(v);
        let _ = params::parse_duration_ns(v);
        let _ = params::time_param(&form, name, 0);
    }
    let _ = params::limit_param(&form);
    let _ = params::matcher_sets(&form.values("match[]"));
    let _ = hearth_web::meta::unescape_name(text);
    let _ = hearth_web::web_config::WebConfig::parse(text);
    let mut s = String::new();
    hearth_web::json::write_str(&mut s, text);
    let back: String = serde_json::from_str(&s).expect("escaped string is JSON");
    assert_eq!(back, text);
});
