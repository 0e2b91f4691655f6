//! One full scrape — every default collector, then text encoding — of this host and of
//! the recorded fixture host, on one thread and on two.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::hint::black_box;
use std::path::Path;

use criterion::{Criterion, criterion_group, criterion_main};
use hearth_exposition::encode_text;
use hearth_node_exporter::{HostPaths, NodeExporter, NodeExporterConfig};

fn scrape_and_encode(e: &NodeExporter) -> usize {
    let families = e.scrape(&|_| true);
    let mut out = String::with_capacity(64 * 1024);
    encode_text(&families, &mut out);
    out.len()
}

fn scrape(c: &mut Criterion) {
    let host = NodeExporter::new(&NodeExporterConfig::default())
        .unwrap()
        .with_workers(2);
    c.bench_function("scrape/this_host/2_threads", |b| {
        b.iter(|| black_box(scrape_and_encode(&host)))
    });
    let host = NodeExporter::new(&NodeExporterConfig::default())
        .unwrap()
        .with_workers(1);
    c.bench_function("scrape/this_host/sequential", |b| {
        b.iter(|| black_box(scrape_and_encode(&host)))
    });

    let fixtures = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures");
    let config = NodeExporterConfig {
        paths: HostPaths::under(&fixtures.join("host")),
        textfile_directories: vec![fixtures.join("textfile/good").display().to_string()],
        ..Default::default()
    };
    let fixture = NodeExporter::new(&config).unwrap().with_workers(1);
    c.bench_function("scrape/fixture_host/sequential", |b| {
        b.iter(|| black_box(scrape_and_encode(&fixture)))
    });
}

criterion_group!(benches, scrape);
criterion_main!(benches);
