//! Protobuf: arbitrary bytes as delimited MetricFamily messages never panic.
#![no_main]

use hearth_exposition::{ProtobufOptions, ProtobufParser};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    for classic in [false, true] {
        let mut p = ProtobufParser::new(data, ProtobufOptions { parse_classic_histograms: classic });
        while let Ok(Some(_)) = p.next() {}
    }
});
