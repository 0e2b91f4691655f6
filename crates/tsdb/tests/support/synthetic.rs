//! Realistic synthetic series for block tests and benchmarks: counters scraped with
//! millisecond jitter, decimal gauges, classic histogram buckets and native histograms.
//! Deterministic (seeded), so runs compare like with like.
#![allow(dead_code)]

use hearth_model::histogram::Span;
use hearth_model::{Histogram, HistogramValue, Labels};
use hearth_tsdb::mem_block_source::MemBlockSource;
use hearth_tsdb::mem_storage::{StoredSample, StoredValue};
use hearth_tsdb::series_chunker::SeriesChunker;

/// xorshift64*: enough randomness for test data, no dependency.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed.max(1))
    }
    pub fn next_u64(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    pub fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n.max(1)
    }
    pub fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }
}

/// What to generate.
#[derive(Clone, Copy, Debug)]
pub struct Shape {
    /// Instances; each has counters, gauges and histograms.
    pub instances: usize,
    pub start: i64,
    pub samples: usize,
    /// Scrape interval (ms); timestamps jitter by a few ms around it.
    pub interval: i64,
    /// Include native histogram series (promtool's OpenMetrics backfill cannot).
    pub native_histograms: bool,
}

pub type SeriesSamples = Vec<(Labels, Vec<StoredSample>)>;

const BUCKETS: [&str; 6] = ["0.05", "0.1", "0.25", "0.5", "1", "+Inf"];

fn float(t: i64, v: f64) -> StoredSample {
    StoredSample {
        t,
        value: StoredValue::Float(v),
        st: None,
    }
}

/// The series of `shape`, sorted by labels.
pub fn generate(shape: Shape, seed: u64) -> SeriesSamples {
    let mut rng = Rng::new(seed);
    let mut out: SeriesSamples = Vec::new();
    // One timestamp sequence per instance, as one scrape fills all its series.
    for i in 0..shape.instances {
        let inst = format!("10.0.{}.{}:9100", i / 250, i % 250);
        let ts: Vec<i64> = (0..shape.samples as i64)
            .map(|k| shape.start + k * shape.interval + rng.below(5) as i64)
            .collect();
        for (code, rate) in [("200", 40u64), ("500", 2)] {
            let l = Labels::new([
                ("__name__", "http_requests_total"),
                ("code", code),
                ("instance", inst.as_str()),
                ("job", "api"),
            ]);
            let mut v = rng.below(1000) as f64;
            let samples = ts
                .iter()
                .map(|&t| {
                    v += rng.below(rate) as f64;
                    float(t, v)
                })
                .collect();
            out.push((l, samples));
        }
        for g in ["node_temperature_celsius", "node_load1"] {
            let l = Labels::new([
                ("__name__", g),
                ("instance", inst.as_str()),
                ("job", "node"),
            ]);
            let mut v = 20.0 + rng.unit() * 10.0;
            let samples = ts
                .iter()
                .map(|&t| {
                    v += (rng.unit() - 0.5) * 0.4;
                    float(t, (v * 100.0).round() / 100.0)
                })
                .collect();
            out.push((l, samples));
        }
        let mut counts = [0u64; BUCKETS.len()];
        let mut bucket_series: Vec<Vec<StoredSample>> = vec![Vec::new(); BUCKETS.len()];
        let mut sum_series = Vec::new();
        let mut sum = 0.0;
        for &t in &ts {
            let n = rng.below(30);
            for _ in 0..n {
                let x = rng.unit();
                sum += x;
                for (b, le) in BUCKETS.iter().enumerate() {
                    if *le == "+Inf" || x <= le.parse::<f64>().unwrap_or(f64::INFINITY) {
                        counts[b] += 1;
                    }
                }
            }
            for (b, s) in bucket_series.iter_mut().enumerate() {
                s.push(float(t, counts[b] as f64));
            }
            sum_series.push(float(t, (sum * 1000.0).round() / 1000.0));
        }
        for (b, s) in bucket_series.into_iter().enumerate() {
            let l = Labels::new([
                ("__name__", "http_request_duration_seconds_bucket"),
                ("instance", inst.as_str()),
                ("job", "api"),
                ("le", BUCKETS[b]),
            ]);
            out.push((l, s));
        }
        let l = Labels::new([
            ("__name__", "http_request_duration_seconds_sum"),
            ("instance", inst.as_str()),
            ("job", "api"),
        ]);
        out.push((l, sum_series));
        if shape.native_histograms {
            let l = Labels::new([
                ("__name__", "rpc_latency_seconds"),
                ("instance", inst.as_str()),
                ("job", "rpc"),
            ]);
            let mut abs = [0i64; 4];
            let mut zero = 0u64;
            let mut sum = 0.0;
            let samples = ts
                .iter()
                .map(|&t| {
                    for a in &mut abs {
                        *a += rng.below(5) as i64;
                    }
                    zero += rng.below(2);
                    sum += rng.unit() * 10.0;
                    let mut prev = 0;
                    let deltas: Vec<i64> = abs
                        .iter()
                        .map(|&a| {
                            let d = a - prev;
                            prev = a;
                            d
                        })
                        .collect();
                    let h = Histogram {
                        schema: 0,
                        zero_threshold: 1e-128,
                        zero_count: zero,
                        count: zero + abs.iter().sum::<i64>() as u64,
                        sum,
                        positive_spans: vec![Span {
                            offset: -2,
                            length: 4,
                        }],
                        positive_buckets: deltas,
                        ..Histogram::default()
                    };
                    StoredSample {
                        t,
                        value: StoredValue::Histogram(HistogramValue::Integer(h)),
                        st: None,
                    }
                })
                .collect();
            out.push((l, samples));
        }
    }
    out.sort_by(|a, b| a.0.cmp(&b.0));
    out
}

/// The samples chunked as the head would (2h chunk range).
pub fn to_source(series: &SeriesSamples) -> MemBlockSource {
    let mut src = MemBlockSource::new();
    for (l, samples) in series {
        let mut c = SeriesChunker::head_like(7_200_000);
        for s in samples {
            match &s.value {
                StoredValue::Float(v) => c.append_float(s.t, *v).unwrap(),
                StoredValue::Histogram(HistogramValue::Integer(h)) => {
                    c.append_histogram(s.t, h).unwrap()
                }
                StoredValue::Histogram(HistogramValue::Float(h)) => {
                    c.append_float_histogram(s.t, h).unwrap()
                }
            }
        }
        src.insert(l.clone(), c.finish());
    }
    src
}

/// The float series as OpenMetrics text (timestamps in seconds), for promtool's backfill.
pub fn to_openmetrics(series: &SeriesSamples) -> String {
    let mut s = String::new();
    let mut last_family = String::new();
    for (l, samples) in series {
        let name = l.get("__name__").unwrap_or("");
        let family = name;
        if samples
            .iter()
            .any(|x| !matches!(x.value, StoredValue::Float(_)))
        {
            continue;
        }
        if family != last_family {
            // Untyped families avoid OpenMetrics' histogram structure rules.
            s.push_str(&format!("# TYPE {name} unknown\n"));
            last_family = family.to_string();
        }
        let mut lbl = String::new();
        for p in l.iter().filter(|p| p.name.as_str() != "__name__") {
            if !lbl.is_empty() {
                lbl.push(',');
            }
            lbl.push_str(&format!("{}=\"{}\"", p.name, p.value));
        }
        for x in samples {
            if let StoredValue::Float(v) = x.value {
                let secs = format!("{}.{:03}", x.t.div_euclid(1000), x.t.rem_euclid(1000));
                s.push_str(&format!("{name}{{{lbl}}} {v} {secs}\n"));
            }
        }
    }
    s.push_str("# EOF\n");
    s
}
