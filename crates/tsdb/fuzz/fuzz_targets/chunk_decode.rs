//! Decodes arbitrary bytes as each chunk encoding, and continues appending to whatever
//! decodes: nothing may panic.
#![no_main]

use hearth_model::{FloatHistogram, Histogram, Span};
use hearth_tsdb::chunkenc::{ChunkAppender, ChunkIterator, Encoding, ChunkSampleIterator, ValueType};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    for enc in Encoding::ALL {
        let mut it = ChunkIterator::new(enc, data);
        let mut last = i64::MIN;
        while it.next() != ValueType::None {
            let _ = it.at();
            let _ = it.at_histogram();
            let _ = it.at_float_histogram();
            let _ = it.at_st();
            last = it.at_t();
        }
        let _ = it.err().map(|e| e.to_string());
        let mut it = ChunkIterator::new(enc, data);
        let _ = it.seek(last);

        if let Ok(mut app) = ChunkAppender::from_bytes(enc, data.to_vec()) {
            let h = Histogram {
                count: 1,
                sum: 1.0,
                positive_spans: vec![Span { offset: 0, length: 1 }],
                positive_buckets: vec![1],
                ..Default::default()
            };
            let fh = FloatHistogram {
                count: 1.0,
                sum: 1.0,
                positive_spans: vec![Span { offset: 0, length: 1 }],
                positive_buckets: vec![1.0],
                ..Default::default()
            };
            let _ = app.append(1, last.wrapping_add(1), 1.0);
            let _ = app.append_histogram(None, 1, last.wrapping_add(2), &h, false);
            let _ = app.append_float_histogram(None, 1, last.wrapping_add(3), &fh, false);
            let mut it = app.iter();
            while it.next() != ValueType::None {}
        }
    }
});
