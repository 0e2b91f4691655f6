//! Remote write receiving: a batch shaped like Prometheus' (2000 series, one sample
//! each, 8 labels of node_exporter-like names and values), as 1.0 and 2.0.
//! - `decode`: snappy + protobuf only;
//! - `receive`: the whole receiver (negotiation, decoding, label validation, appending)
//!   into an appender that keeps nothing, so the storage's cost is not measured.
//!
//! Throughput is in samples per second.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::hint::black_box;

use bytes::Bytes;
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use hearth_model::{Exemplar, HistogramValue, Labels, Metadata, Timestamp};
use hearth_remote::write_client::{EncodedWrite, OutgoingSample, OutgoingSeries};
use hearth_remote::{WriteMessage, WriteReceiver, proto, proto_v2};
use hearth_tsdb::storage::{AppendError, Appendable, Appender, SeriesRef};
use prost::Message;

const SERIES: usize = 2000;

fn batch() -> Vec<OutgoingSeries> {
    let t: Timestamp = hearth_model::sample::now_ms();
    (0..SERIES)
        .map(|i| OutgoingSeries {
            labels: Labels::new([
                ("__name__", format!("node_cpu_seconds_total_{}", i % 50)),
                ("cpu", (i % 16).to_string()),
                ("env", "production".to_string()),
                ("instance", format!("host-{}.example.com:9100", i / 50)),
                ("job", "node".to_string()),
                (
                    "mode",
                    ["user", "system", "idle", "iowait"][i % 4].to_string(),
                ),
                ("region", "eu-west-1".to_string()),
                ("team", "platform".to_string()),
            ]),
            samples: vec![OutgoingSample {
                st: 0,
                t,
                v: i as f64 * 1.5,
            }],
            ..Default::default()
        })
        .collect()
}

/// Accepts everything, keeps nothing.
struct Discard;

struct DiscardAppender;

impl Appender for DiscardAppender {
    fn append(
        &mut self,
        _: Option<SeriesRef>,
        _: &Labels,
        _: Timestamp,
        _: f64,
    ) -> Result<SeriesRef, AppendError> {
        Ok(1)
    }
    fn append_histogram(
        &mut self,
        _: Option<SeriesRef>,
        _: &Labels,
        _: Timestamp,
        _: &HistogramValue,
    ) -> Result<SeriesRef, AppendError> {
        Ok(1)
    }
    fn append_exemplar(
        &mut self,
        r: SeriesRef,
        _: &Labels,
        _: &Exemplar,
    ) -> Result<SeriesRef, AppendError> {
        Ok(r)
    }
    fn update_metadata(
        &mut self,
        r: SeriesRef,
        _: &Labels,
        _: &Metadata,
    ) -> Result<SeriesRef, AppendError> {
        Ok(r)
    }
    fn commit(self: Box<Self>) -> Result<(), AppendError> {
        Ok(())
    }
    fn rollback(self: Box<Self>) -> Result<(), AppendError> {
        Ok(())
    }
}

impl Appendable for Discard {
    fn appender(&self) -> Box<dyn Appender + '_> {
        Box::new(DiscardAppender)
    }
}

fn bench(c: &mut Criterion) {
    let series = batch();
    let mut g = c.benchmark_group("remote_write");
    g.throughput(Throughput::Elements(SERIES as u64));
    let rx = WriteReceiver::default();
    for message in [WriteMessage::V1, WriteMessage::V2] {
        let body = EncodedWrite::new(message, &series, &[]).unwrap().body;
        let name = match message {
            WriteMessage::V1 => "v1",
            WriteMessage::V2 => "v2",
        };
        eprintln!("{name}: {SERIES} samples, {} bytes compressed", body.len());
        g.bench_function(format!("decode_{name}"), |b| {
            b.iter(|| {
                let raw = hearth_remote::compression::decompress(&body, 64 << 20).unwrap();
                match message {
                    WriteMessage::V1 => {
                        black_box(proto::WriteRequest::decode(Bytes::from(raw)).unwrap());
                    }
                    WriteMessage::V2 => {
                        black_box(proto_v2::Request::decode(Bytes::from(raw)).unwrap());
                    }
                }
            })
        });
        g.bench_function(format!("receive_{name}"), |b| {
            b.iter(|| {
                let r = rx.receive(
                    &Discard,
                    Some(message.content_type()),
                    Some("snappy"),
                    black_box(&body),
                );
                assert_eq!(r.status, 204);
            })
        });
    }
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
