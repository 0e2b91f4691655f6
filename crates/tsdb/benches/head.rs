#![allow(clippy::unwrap_used, clippy::expect_used)]
//! The head: append throughput (10k series × 120 scrapes through cached references, with
//! and without the WAL; measured in CPU time of the appending thread), WAL replay time,
//! and a 2h query of one series. Before the
//! criterion runs, a one-shot report measures heap per active series at 500k series of
//! 10 labels (counted by this binary's allocator) and replay of 10M samples.
//!
//! `HEARTH_HEAD_BENCH_REPORT=0` skips the report (`=memory` or `=replay` runs one part);
//! `HEARTH_HEAD_BENCH_SERIES` changes the series count of the memory part.

use std::alloc::{GlobalAlloc, Layout, System};
use std::hint::black_box;
use std::sync::atomic::{AtomicIsize, Ordering};
use std::time::{Duration, Instant};

use criterion::{Criterion, Throughput, criterion_group};
use hearth_model::{Labels, MatchOp, Matcher};
use hearth_tsdb::head::{Head, HeadOptions};
use hearth_tsdb::storage::{Querier, SeriesRef, ValueType};

/// Counts live heap bytes, so memory per series is measured, not guessed.
struct CountingAlloc;

static LIVE: AtomicIsize = AtomicIsize::new(0);

unsafe impl GlobalAlloc for CountingAlloc {
    unsafe fn alloc(&self, l: Layout) -> *mut u8 {
        LIVE.fetch_add(l.size() as isize, Ordering::Relaxed);
        // SAFETY: forwarded as is.
        unsafe { System.alloc(l) }
    }
    unsafe fn dealloc(&self, p: *mut u8, l: Layout) {
        LIVE.fetch_sub(l.size() as isize, Ordering::Relaxed);
        // SAFETY: forwarded as is.
        unsafe { System.dealloc(p, l) }
    }
    unsafe fn realloc(&self, p: *mut u8, l: Layout, new: usize) -> *mut u8 {
        LIVE.fetch_add(new as isize - l.size() as isize, Ordering::Relaxed);
        // SAFETY: forwarded as is.
        unsafe { System.realloc(p, l, new) }
    }
}

#[global_allocator]
static ALLOC: CountingAlloc = CountingAlloc;

fn rss_bytes() -> usize {
    std::fs::read_to_string("/proc/self/statm")
        .ok()
        .and_then(|s| s.split_whitespace().nth(1)?.parse::<usize>().ok())
        .map_or(0, |pages| pages * 4096)
}

/// CPU time of this process so far (user + system), from /proc: on a shared machine
/// samples per CPU-second say more than samples per wall-second.
fn cpu_seconds() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    // Fields after the parenthesised command name; utime and stime are 14th and 15th.
    let rest = stat.rsplit_once(')').map_or("", |(_, r)| r);
    let f: Vec<&str> = rest.split_whitespace().collect();
    let ticks = |i: usize| f.get(i).and_then(|v| v.parse::<f64>().ok()).unwrap_or(0.0);
    (ticks(11) + ticks(12)) / 100.0
}

/// CPU time of the calling thread (ns): what "samples per second on one core" is about
/// when other work shares the machine.
fn thread_cpu() -> Duration {
    let ns = std::fs::read_to_string("/proc/thread-self/schedstat")
        .ok()
        .and_then(|s| s.split_whitespace().next()?.parse::<u64>().ok())
        .unwrap_or(0);
    Duration::from_nanos(ns)
}

/// A Prometheus-like label set: 200 series per target (50 metric names × 4 `le`), the
/// target's labels shared by its series.
fn series_labels(i: usize) -> Labels {
    let (target, k) = (i / 200, i % 200);
    Labels::new([
        (
            "__name__",
            format!("http_request_duration_seconds_{}", k / 4),
        ),
        ("cluster", "prod-eu-1".to_string()),
        ("container", format!("app-{}", target % 20)),
        ("endpoint", "http-metrics".to_string()),
        (
            "instance",
            format!(
                "10.{}.{}.{}:9100",
                target / 65536,
                target / 256 % 256,
                target % 256
            ),
        ),
        ("job", format!("kubernetes-pods-{}", target % 50)),
        ("le", ["0.1", "0.5", "1", "+Inf"][k % 4].to_string()),
        ("namespace", format!("team-{}", target % 30)),
        ("pod", format!("app-{}-7d9f8c6b5-x{target:05}", target % 20)),
        ("service", format!("svc-{}", target % 40)),
    ])
}

fn no_wal() -> HeadOptions {
    HeadOptions {
        wal: None,
        ..HeadOptions::default()
    }
}

/// Appends `scrapes` rounds of every series, one commit per round of 10k samples
/// (a scrape's size), through cached references.
fn scrape_rounds(
    head: &Head,
    refs: &mut [Option<SeriesRef>],
    labels: &[Labels],
    from: i64,
    scrapes: i64,
) {
    for s in 0..scrapes {
        let t = from + s * 15_000;
        for chunk in refs.chunks_mut(10_000).zip(labels.chunks(10_000)) {
            let mut app = head.appender();
            for (r, l) in chunk.0.iter_mut().zip(chunk.1) {
                *r = Some(app.append(*r, l, t, (t / 1000) as f64 * 0.25).unwrap());
            }
            app.commit().unwrap();
        }
    }
}

fn report() {
    let part = std::env::var("HEARTH_HEAD_BENCH_REPORT").unwrap_or_default();
    if part == "0" {
        return;
    }
    if part != "replay" {
        memory_report();
    }
    if part != "memory" {
        replay_report();
    }
}

fn memory_report() {
    let n: usize = std::env::var("HEARTH_HEAD_BENCH_SERIES")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(500_000);
    let labels: Vec<Labels> = (0..n).map(series_labels).collect();
    let dir = tempfile::tempdir().unwrap();
    let (heap0, rss0) = (LIVE.load(Ordering::Relaxed), rss_bytes());
    let head = Head::open(dir.path(), no_wal()).unwrap();
    let mut refs = vec![None; n];
    let start = Instant::now();
    scrape_rounds(&head, &mut refs, &labels, 0, 1);
    let created = start.elapsed();
    let per = |heap: isize| (heap - heap0) as f64 / n as f64;
    let heap1 = LIVE.load(Ordering::Relaxed);
    let rss1 = rss_bytes();
    println!(
        "head memory, {n} series × 10 labels, 1 sample each: {:.0} B/series heap \
         (label sets built by the caller included), {:.0} B/series RSS; created in {created:.2?}",
        per(heap1),
        (rss1 - rss0) as f64 / n as f64
    );
    let (start, cpu) = (Instant::now(), cpu_seconds());
    scrape_rounds(&head, &mut refs, &labels, 15_000, 59);
    let (took, cpu) = (start.elapsed(), cpu_seconds() - cpu);
    head.mmap_head_chunks().unwrap();
    println!(
        "head memory, 60 samples each (open chunks half full): {:.0} B/series heap, \
         {:.0} B/series RSS; appending without WAL: {:.2} M samples/s wall, {:.2} M per CPU-second",
        per(LIVE.load(Ordering::Relaxed)),
        (rss_bytes() - rss0) as f64 / n as f64,
        (59 * n) as f64 / took.as_secs_f64() / 1e6,
        (59 * n) as f64 / cpu / 1e6
    );
}

/// Appends and replays 10M samples: 100k series × 100 scrapes.
fn replay_report() {
    let dir = tempfile::tempdir().unwrap();
    let series = 100_000;
    let labels: Vec<Labels> = (0..series).map(series_labels).collect();
    let head = Head::open(dir.path(), HeadOptions::default()).unwrap();
    let mut refs = vec![None; series];
    let (start, cpu) = (Instant::now(), cpu_seconds());
    scrape_rounds(&head, &mut refs, &labels, 0, 100);
    let (took, cpu) = (start.elapsed(), cpu_seconds() - cpu);
    head.close().unwrap();
    println!(
        "append with WAL: 10M samples in {took:.2?} = {:.2} M samples/s wall, {:.2} M per CPU-second",
        10.0 / took.as_secs_f64(),
        10.0 / cpu
    );
    let heap_before = LIVE.load(Ordering::Relaxed);
    let (start, cpu) = (Instant::now(), cpu_seconds());
    let head = Head::open(dir.path(), HeadOptions::default()).unwrap();
    let (took, cpu) = (start.elapsed(), cpu_seconds() - cpu);
    let r = head.replay_stats();
    println!(
        "replay of 10M samples ({} series, {} mmapped chunks): {took:.2?} wall, {cpu:.2}s CPU; \
         heap after replay {:.0} MiB",
        r.series,
        r.mmapped_chunks,
        (LIVE.load(Ordering::Relaxed) - heap_before) as f64 / (1 << 20) as f64
    );
}

fn append(c: &mut Criterion) {
    let n = 10_000;
    let labels: Vec<Labels> = (0..n).map(series_labels).collect();
    let mut g = c.benchmark_group("head_append");
    g.sample_size(10);
    g.measurement_time(Duration::from_secs(8));
    g.throughput(Throughput::Elements((n * 120) as u64));
    for (name, wal) in [("no_wal", false), ("wal_snappy", true)] {
        g.bench_function(format!("10k_series_x_120_{name}"), |b| {
            b.iter_custom(|iters| {
                let mut total = Duration::ZERO;
                for _ in 0..iters {
                    let dir = tempfile::tempdir().unwrap();
                    let opts = if wal {
                        HeadOptions::default()
                    } else {
                        no_wal()
                    };
                    let head = Head::open(dir.path(), opts).unwrap();
                    let mut refs = vec![None; n];
                    // Series creation is not what is measured.
                    scrape_rounds(&head, &mut refs, &labels, 0, 1);
                    // Thread CPU time, not wall time: the target is per core, and the
                    // machine may be shared.
                    let start = thread_cpu();
                    scrape_rounds(&head, &mut refs, &labels, 15_000, 120);
                    total += thread_cpu().saturating_sub(start);
                }
                total
            })
        });
    }
    g.finish();
}

fn replay(c: &mut Criterion) {
    let series = 10_000;
    let labels: Vec<Labels> = (0..series).map(series_labels).collect();
    let dir = tempfile::tempdir().unwrap();
    let head = Head::open(dir.path(), HeadOptions::default()).unwrap();
    let mut refs = vec![None; series];
    scrape_rounds(&head, &mut refs, &labels, 0, 100);
    head.close().unwrap();
    let mut g = c.benchmark_group("head_replay");
    g.sample_size(10);
    g.throughput(Throughput::Elements(1_000_000));
    g.bench_function("1M_samples_10k_series", |b| {
        b.iter(|| {
            let head = Head::open(dir.path(), HeadOptions::default()).unwrap();
            black_box(head.num_series());
            // Replay only reads; dropping without close leaves the files as they were
            // apart from one new empty segment per open.
        })
    });
    g.finish();
}

fn query(c: &mut Criterion) {
    let dir = tempfile::tempdir().unwrap();
    let head = Head::open(dir.path(), no_wal()).unwrap();
    let labels: Vec<Labels> = (0..1000).map(series_labels).collect();
    let mut refs = vec![None; labels.len()];
    // 2h of 15s scrapes: 480 samples, four chunks, three of them on disk.
    scrape_rounds(&head, &mut refs, &labels, 0, 480);
    head.mmap_head_chunks().unwrap();
    let m = [
        Matcher::new(
            MatchOp::Equal,
            "__name__",
            "http_request_duration_seconds_7",
        )
        .unwrap(),
        Matcher::new(MatchOp::Equal, "le", "0.5").unwrap(),
        Matcher::new(MatchOp::Equal, "instance", "10.0.0.3:9100").unwrap(),
    ];
    let mut g = c.benchmark_group("head_query");
    g.throughput(Throughput::Elements(480));
    g.bench_function("one_series_2h", |b| {
        b.iter(|| {
            let q = head.querier(0, 2 * 3_600_000);
            let set = q.select(true, None, &m).unwrap();
            let mut it = set.series[0].iterator();
            let mut sum = 0.0;
            while it.next() == ValueType::Float {
                sum += it.at().1;
            }
            black_box(sum)
        })
    });
    g.finish();
}

criterion_group!(benches, append, replay, query);

fn main() {
    report();
    benches();
    criterion::Criterion::default()
        .configure_from_args()
        .final_summary();
}
