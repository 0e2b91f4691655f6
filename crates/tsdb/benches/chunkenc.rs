#![allow(clippy::unwrap_used, clippy::expect_used)]
//! Chunk encoding throughput on realistic data: scraped counters (15 s interval with a
//! few ms of jitter), gauges with 0.1 resolution, constants, and native histograms.
//! Prints bytes per sample for each shape before measuring.

use std::hint::black_box;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use hearth_model::{Histogram, Span};
use hearth_tsdb::chunkenc::{ChunkAppender, ChunkSampleIterator, Encoding, ValueType};

const SAMPLES: usize = 120;

/// xorshift64*: deterministic noise without a dependency.
struct Noise(u64);

impl Noise {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
}

fn timestamps(noise: &mut Noise) -> Vec<i64> {
    let mut t = 1_700_000_000_000i64;
    (0..SAMPLES)
        .map(|_| {
            t += 15_000 + (noise.next() % 7) as i64 - 3;
            t
        })
        .collect()
}

fn shapes() -> Vec<(&'static str, Vec<(i64, f64)>)> {
    let mut noise = Noise(0x9E37_79B9_7F4A_7C15);
    let ts = timestamps(&mut noise);
    let mut counter = 1_234_567.0;
    let counter_samples = ts
        .iter()
        .map(|t| {
            counter += (noise.next() % 500) as f64;
            (*t, counter)
        })
        .collect();
    let mut gauge = 500i64;
    let gauge_samples = ts
        .iter()
        .map(|t| {
            gauge += (noise.next() % 21) as i64 - 10;
            (*t, gauge as f64 / 10.0)
        })
        .collect();
    let constant = ts.iter().map(|t| (*t, 1.0)).collect();
    vec![
        ("counter", counter_samples),
        ("gauge_0.1", gauge_samples),
        ("constant", constant),
    ]
}

fn histograms() -> Vec<(i64, Histogram)> {
    let mut noise = Noise(42);
    let ts = timestamps(&mut noise);
    let mut counts = [0i64; 20];
    ts.iter()
        .map(|t| {
            for c in counts.iter_mut() {
                *c += (noise.next() % 4) as i64;
            }
            let mut prev = 0;
            let deltas = counts
                .iter()
                .map(|c| {
                    let d = c - prev;
                    prev = *c;
                    d
                })
                .collect();
            let count = counts.iter().sum::<i64>() as u64;
            let h = Histogram {
                schema: 3,
                zero_threshold: 2f64.powi(-128),
                count,
                sum: count as f64 * 0.37,
                positive_spans: vec![Span {
                    offset: -5,
                    length: 20,
                }],
                positive_buckets: deltas,
                ..Default::default()
            };
            (*t, h)
        })
        .collect()
}

fn build(enc: Encoding, samples: &[(i64, f64)]) -> ChunkAppender {
    let mut app = ChunkAppender::new(enc);
    for (t, v) in samples {
        app.append(0, *t, *v).unwrap();
    }
    app
}

fn build_histograms(enc: Encoding, samples: &[(i64, Histogram)]) -> ChunkAppender {
    let mut app = ChunkAppender::new(enc);
    for (t, h) in samples {
        app.append_histogram(None, 0, *t, h, false).unwrap();
    }
    app
}

fn floats(c: &mut Criterion) {
    for (name, samples) in shapes() {
        for enc in [Encoding::Xor, Encoding::Xor2] {
            let chunk = build(enc, &samples);
            println!(
                "bytes/sample {enc} {name}: {:.3} ({} bytes for {SAMPLES} samples)",
                chunk.bytes().len() as f64 / SAMPLES as f64,
                chunk.bytes().len()
            );
            let mut g = c.benchmark_group(format!("{enc}/{name}"));
            g.throughput(Throughput::Elements(SAMPLES as u64));
            g.bench_function("append", |b| b.iter(|| build(enc, black_box(&samples))));
            g.bench_function("iterate", |b| {
                b.iter(|| {
                    let mut it = chunk.iter();
                    let mut sum = 0.0;
                    while it.next() == ValueType::Float {
                        sum += it.at().1;
                    }
                    black_box(sum)
                })
            });
            g.finish();
        }
    }
}

fn native_histograms(c: &mut Criterion) {
    let samples = histograms();
    for enc in [Encoding::Histogram, Encoding::FloatHistogram] {
        let chunk = if enc == Encoding::Histogram {
            build_histograms(enc, &samples)
        } else {
            let mut app = ChunkAppender::new(enc);
            for (t, h) in &samples {
                app.append_float_histogram(None, 0, *t, &h.to_float(), false)
                    .unwrap();
            }
            app
        };
        println!(
            "bytes/sample {enc} 20 buckets: {:.3}",
            chunk.bytes().len() as f64 / SAMPLES as f64
        );
        let mut g = c.benchmark_group(format!("{enc}/20_buckets"));
        g.throughput(Throughput::Elements(SAMPLES as u64));
        if enc == Encoding::Histogram {
            g.bench_function("append", |b| {
                b.iter(|| build_histograms(enc, black_box(&samples)))
            });
        } else {
            let float_samples: Vec<_> = samples.iter().map(|(t, h)| (*t, h.to_float())).collect();
            g.bench_function("append", |b| {
                b.iter(|| {
                    let mut app = ChunkAppender::new(enc);
                    for (t, h) in black_box(&float_samples) {
                        app.append_float_histogram(None, 0, *t, h, false).unwrap();
                    }
                    app
                })
            });
        }
        g.bench_function("iterate", |b| {
            let mut out = hearth_model::FloatHistogram::default();
            b.iter(|| {
                let mut it = chunk.iter();
                let mut n = 0.0;
                while it.next() != ValueType::None {
                    it.at_float_histogram_into(&mut out);
                    n += out.count;
                }
                black_box(n)
            })
        });
        g.finish();
    }
}

criterion_group!(benches, floats, native_histograms);
criterion_main!(benches);
