//! Parse throughput (MB/s and samples/s) of the text parsers on upstream's real payload
//! `alltypes.237mfs.prom.txt` and on a generated node_exporter-like page of 10k series.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::hint::black_box;
use std::path::PathBuf;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use hearth_exposition::{
    Entry, OpenMetricsOptions, OpenMetricsParser, ProtobufOptions, ProtobufParser, TextParser,
};

fn upstream_payload() -> Vec<u8> {
    let p = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../../shared/conformance/exposition/prometheus-textparse-testdata/alltypes.237mfs.prom.txt");
    std::fs::read(p).unwrap()
}

/// A page shaped like node_exporter's on a large host: mostly labelled counters and
/// gauges with realistic label sets and values, plus classic histograms.
fn node_like_page(series: usize, openmetrics: bool) -> Vec<u8> {
    let modes = [
        "idle", "iowait", "irq", "nice", "softirq", "steal", "system", "user",
    ];
    let mut out = String::new();
    let mut n = 0;
    let mut i = 0u64;
    while n < series {
        let fam = i % 6;
        match fam {
            0 => {
                out.push_str("# HELP node_cpu_seconds_total Seconds the CPUs spent in each mode.\n# TYPE node_cpu_seconds_total counter\n");
                for cpu in 0..16 {
                    for m in modes {
                        out.push_str(&format!(
                            "node_cpu_seconds_total{{cpu=\"{cpu}\",mode=\"{m}\"}} {}.{:02}\n",
                            100_000 + cpu * 977 + i,
                            i % 100
                        ));
                        n += 1;
                    }
                }
            }
            1 => {
                out.push_str("# HELP node_network_receive_bytes_total Network device statistic receive_bytes.\n# TYPE node_network_receive_bytes_total counter\n");
                for d in 0..32 {
                    out.push_str(&format!(
                        "node_network_receive_bytes_total{{device=\"veth{d:04x}{i}\"}} {}\n",
                        1_234_567_890_123u64 + d * 7919 + i
                    ));
                    n += 1;
                }
            }
            2 => {
                out.push_str("# HELP node_filesystem_avail_bytes Filesystem space available to non-root users in bytes.\n# TYPE node_filesystem_avail_bytes gauge\n");
                for d in 0..24 {
                    out.push_str(&format!(
                        "node_filesystem_avail_bytes{{device=\"/dev/nvme0n1p{d}\",fstype=\"ext4\",mountpoint=\"/var/lib/kubelet/pods/{i:08x}-{d}/volumes\"}} 4.2{d}9e+10\n"
                    ));
                    n += 1;
                }
            }
            3 => {
                out.push_str("# HELP http_request_duration_seconds Request latency.\n# TYPE http_request_duration_seconds histogram\n");
                for h in ["/api/v1/query", "/api/v1/series", "/metrics"] {
                    let mut c = 0;
                    for le in [
                        "0.005", "0.01", "0.025", "0.05", "0.1", "0.25", "0.5", "1", "2.5", "5",
                        "10", "+Inf",
                    ] {
                        c += 7 + i % 5;
                        out.push_str(&format!("http_request_duration_seconds_bucket{{handler=\"{h}\",code=\"200\",le=\"{le}\"}} {c}\n"));
                    }
                    out.push_str(&format!(
                        "http_request_duration_seconds_sum{{handler=\"{h}\",code=\"200\"}} {}.5\n",
                        c / 3
                    ));
                    out.push_str(&format!(
                        "http_request_duration_seconds_count{{handler=\"{h}\",code=\"200\"}} {c}\n"
                    ));
                    n += 14;
                }
            }
            4 => {
                out.push_str("# HELP node_load1 1m load average.\n# TYPE node_load1 gauge\n");
                out.push_str(&format!("node_load1 {}.{:02}\n", i % 8, i % 100));
                n += 1;
            }
            _ => {
                out.push_str("# HELP node_disk_io_time_seconds_total Total seconds spent doing I/Os.\n# TYPE node_disk_io_time_seconds_total counter\n");
                for d in 0..8 {
                    out.push_str(&format!(
                        "node_disk_io_time_seconds_total{{device=\"sd{}\"}} {}.{}\n",
                        (b'a' + d) as char,
                        31_000 + i,
                        d
                    ));
                    n += 1;
                }
            }
        }
        i += 1;
    }
    if openmetrics {
        // OpenMetrics counters are named without _total in metadata; good enough for speed.
        out = out.replace(
            "# TYPE node_cpu_seconds_total counter",
            "# TYPE node_cpu_seconds counter",
        );
        out.push_str("# EOF\n");
    }
    out.into_bytes()
}

fn count_text(b: &[u8]) -> usize {
    let mut p = TextParser::new(b).unwrap();
    let mut n = 0;
    while let Some(e) = p.next().unwrap() {
        if let Entry::Sample(s) = e {
            black_box(s.value);
            n += 1;
        }
    }
    n
}

fn count_om(b: &[u8]) -> usize {
    let mut p = OpenMetricsParser::new(b, OpenMetricsOptions::default()).unwrap();
    let mut n = 0;
    while let Some(e) = p.next().unwrap() {
        if let Entry::Sample(s) = e {
            black_box(s.value);
            n += 1;
        }
    }
    n
}

/// The same page as length-delimited protobuf, via text → families → proto messages.
fn to_protobuf(text: &[u8]) -> Vec<u8> {
    use hearth_exposition::proto;
    let mut p = TextParser::new(text).unwrap();
    let mut c = hearth_exposition::FamilyCollector::new();
    while let Some(e) = p.next().unwrap() {
        c.push(&e);
    }
    let families: Vec<proto::MetricFamily> = c
        .finish()
        .into_iter()
        .filter(|f| f.metric_type != hearth_model::MetricType::Histogram)
        .map(|f| proto::MetricFamily {
            name: f.name.clone(),
            help: f.help.clone().unwrap_or_default(),
            r#type: proto::MetricType::Untyped as i32,
            metric: f
                .samples
                .iter()
                .map(|s| proto::Metric {
                    label: s
                        .labels
                        .iter()
                        .map(|(n, v)| proto::LabelPair {
                            name: n.clone(),
                            value: v.clone(),
                        })
                        .collect(),
                    untyped: Some(proto::Untyped { value: s.value }),
                    ..Default::default()
                })
                .collect(),
            unit: String::new(),
        })
        .collect();
    hearth_exposition::protobuf::encode_delimited(&families)
}

fn count_protobuf(b: &[u8]) -> usize {
    let mut p = ProtobufParser::new(b, ProtobufOptions::default());
    let mut n = 0;
    while let Some(e) = p.next().unwrap() {
        if let Entry::Sample(s) = e {
            black_box(s.value);
            n += 1;
        }
    }
    n
}

fn bench(c: &mut Criterion) {
    let upstream = upstream_payload();
    let node = node_like_page(10_000, false);
    let node_om = node_like_page(10_000, true);
    let node_pb = to_protobuf(&node);
    type Case<'a> = (&'a str, &'a [u8], fn(&[u8]) -> usize);
    let cases: [Case; 4] = [
        ("text/alltypes.237mfs", &upstream, count_text),
        ("text/node_10k", &node, count_text),
        ("openmetrics/node_10k", &node_om, count_om),
        ("protobuf/node_10k", &node_pb, count_protobuf),
    ];
    for (name, input, f) in cases {
        let samples = f(input);
        eprintln!("{name}: {} bytes, {samples} samples", input.len());
        let mut g = c.benchmark_group("parse_bytes");
        g.throughput(Throughput::Bytes(input.len() as u64));
        g.bench_function(name, |b| b.iter(|| f(black_box(input))));
        g.finish();
        let mut g = c.benchmark_group("parse_samples");
        g.throughput(Throughput::Elements(samples as u64));
        g.bench_function(name, |b| b.iter(|| f(black_box(input))));
        g.finish();
    }
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(20).measurement_time(std::time::Duration::from_secs(3));
    targets = bench
}
criterion_main!(benches);
