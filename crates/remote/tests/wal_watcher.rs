//! The WAL watcher on real WALs written by the tsdb crate: every record kind across
//! segments, the start-time rule, a torn record, checkpoint garbage collection, a
//! blocked sink (back-pressure) with a restart that resumes, and a truncation past the
//! reader.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

use hearth_model::{
    CounterResetHint, FloatHistogram, Histogram, HistogramValue, Labels, MetricType, Span, labels,
};
use hearth_remote::write_client::OutgoingSeries;
use hearth_remote::{WalPosition, WalSink, WalWatcher, WatcherOptions};
use hearth_tsdb::wal::record::{
    RefExemplar, RefFloatHistogramSample, RefHistogramSample, RefMetadata, RefSample, RefSeries,
    metric_type_to_wal,
};
use hearth_tsdb::wal::{
    Compression, PAGE_SIZE, RecordEncoder, Wal, WalOptions, checkpoint_in, segment_path,
};
use parking_lot::Mutex;

/// Records what it is given; while `blocked`, `append` waits (as a full queue does).
#[derive(Default)]
struct Recorder {
    got: Mutex<Vec<(WalPosition, OutgoingSeries)>>,
    blocked: AtomicBool,
    /// Records that arrived while blocked and were never taken.
    waiting: Mutex<Option<WalPosition>>,
    unknown: AtomicUsize,
}

impl WalSink for Recorder {
    fn append(&self, batch: Vec<OutgoingSeries>, at: WalPosition, stop: &AtomicBool) -> bool {
        while self.blocked.load(Ordering::Relaxed) {
            *self.waiting.lock() = Some(at);
            if stop.load(Ordering::Relaxed) {
                return false;
            }
            std::thread::sleep(Duration::from_millis(2));
        }
        *self.waiting.lock() = None;
        let mut got = self.got.lock();
        got.extend(batch.into_iter().map(|s| (at, s)));
        true
    }

    fn oldest_unsent(&self) -> Option<WalPosition> {
        *self.waiting.lock()
    }

    fn unknown_series(&self, samples: usize) {
        self.unknown.fetch_add(samples, Ordering::Relaxed);
    }
}

impl Recorder {
    /// (labels, t, v) of every float sample received, in order.
    fn floats(&self) -> Vec<(Labels, i64, f64)> {
        self.got
            .lock()
            .iter()
            .flat_map(|(_, s)| s.samples.iter().map(|x| (s.labels.clone(), x.t, x.v)))
            .collect()
    }
}

/// A WAL written record by record, as the head writes it.
struct Writer {
    wal: Wal,
    enc: RecordEncoder,
}

impl Writer {
    fn open(dir: &Path) -> Writer {
        let opts = WalOptions {
            segment_size: 4 * PAGE_SIZE as u64,
            compression: Compression::Snappy,
            sync_on_log: false,
        };
        Writer {
            wal: Wal::open(dir, opts).unwrap(),
            enc: RecordEncoder::default(),
        }
    }

    fn log(&mut self, f: impl FnOnce(&RecordEncoder, &mut Vec<u8>)) {
        let mut buf = Vec::new();
        f(&self.enc, &mut buf);
        self.wal.log(&[&buf]).unwrap();
    }

    fn series(&mut self, r: u64, labels: Labels) {
        self.log(|e, b| {
            e.series(
                &[RefSeries {
                    series_ref: r,
                    labels,
                }],
                b,
            )
        });
    }

    fn samples(&mut self, samples: &[(u64, i64, f64)]) {
        let v: Vec<RefSample> = samples
            .iter()
            .map(|&(series_ref, t, v)| RefSample {
                series_ref,
                st: 0,
                t,
                v,
            })
            .collect();
        self.log(|e, b| e.samples(&v, b));
    }
}

fn options(dir: &Path) -> WatcherOptions {
    let mut o = WatcherOptions::new(dir);
    o.read_period = Duration::from_millis(2);
    o.segment_check_period = Duration::from_millis(10);
    o.checkpoint_period = Duration::from_millis(20);
    o.progress_period = Duration::from_millis(10);
    o
}

/// Waits (without asserting any duration) until `done`, failing after a minute.
fn wait_for(what: &str, mut done: impl FnMut() -> bool) {
    for _ in 0..6000 {
        if done() {
            return;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    panic!("gave up waiting for {what}");
}

fn now() -> i64 {
    hearth_model::sample::now_ms()
}

fn histogram() -> Histogram {
    Histogram {
        counter_reset_hint: CounterResetHint::NotCounterReset,
        schema: 0,
        zero_threshold: 0.001,
        zero_count: 1,
        count: 4,
        sum: 3.5,
        positive_spans: vec![Span {
            offset: 0,
            length: 2,
        }],
        positive_buckets: vec![1, 1],
        ..Default::default()
    }
}

#[test]
fn sends_every_kind_across_segments_and_skips_samples_older_than_its_start() {
    let dir = tempfile::tempdir().unwrap();
    let mut w = Writer::open(dir.path());
    let (old, new) = (now() - 3_600_000, now() + 3_600_000);
    let a = labels!("__name__" => "a_total", "job" => "x");
    let h = labels!("__name__" => "h");
    w.series(1, a.clone());
    w.log(|e, b| {
        e.metadata(
            &[RefMetadata {
                series_ref: 1,
                metric_type: metric_type_to_wal(MetricType::Counter),
                unit: String::new(),
                help: "A counter.".into(),
            }],
            b,
        )
    });
    w.series(2, h.clone());
    w.samples(&[(1, old, 1.0), (1, old + 1, 2.0)]);
    w.samples(&[(1, new, 3.0)]);
    w.wal.next_segment().unwrap();
    w.log(|e, b| {
        assert!(!e.histogram_samples(
            &[RefHistogramSample {
                series_ref: 2,
                st: 0,
                t: new,
                h: histogram(),
            }],
            b,
        ));
    });
    w.log(|e, b| {
        e.exemplars(
            &[RefExemplar {
                series_ref: 1,
                t: new,
                v: 3.0,
                labels: labels!("trace_id" => "t1"),
            }],
            b,
        )
    });
    // A sample of a series never defined.
    w.samples(&[(99, new, 1.0)]);
    w.wal.next_segment().unwrap();

    let sink = Arc::new(Recorder::default());
    let watcher = WalWatcher::start("q", sink.clone(), options(dir.path())).unwrap();
    let items = |sink: &Recorder| -> usize {
        sink.got
            .lock()
            .iter()
            .map(|(_, s)| s.samples.len() + s.histograms.len() + s.exemplars.len())
            .sum()
    };
    wait_for("the existing segments", || items(&sink) == 3);
    // The segment being written is followed.
    w.log(|e, b| {
        assert!(!e.float_histogram_samples(
            &[RefFloatHistogramSample {
                series_ref: 2,
                st: 0,
                t: new + 1,
                fh: FloatHistogram {
                    count: 2.0,
                    sum: 1.0,
                    ..Default::default()
                },
            }],
            b,
        ));
    });
    w.samples(&[(1, new + 1, 4.0)]);
    wait_for("the live records", || items(&sink) == 5);
    watcher.stop();

    let got = sink.got.lock().clone();
    let of = |l: &Labels, segment: u32| -> Vec<OutgoingSeries> {
        got.iter()
            .filter(|(p, s)| s.labels == *l && p.segment == segment)
            .map(|(_, s)| s.clone())
            .collect()
    };
    let a0 = of(&a, 0);
    assert_eq!(a0.len(), 1);
    assert_eq!(a0[0].samples.len(), 1, "old samples are not sent");
    assert_eq!(a0[0].samples[0].t, new);
    let md = a0[0].metadata.as_ref().unwrap();
    assert_eq!(
        (md.metric_type, md.help.as_str()),
        (MetricType::Counter, "A counter.")
    );
    let h1 = of(&h, 1);
    assert_eq!(h1[0].histograms[0].h, HistogramValue::Integer(histogram()));
    let a1 = of(&a, 1);
    assert_eq!(a1[0].exemplars[0].labels, labels!("trace_id" => "t1"));
    assert!(matches!(
        of(&h, 2)[0].histograms[0].h,
        HistogramValue::Float(_)
    ));
    assert_eq!(of(&a, 2)[0].samples[0].v, 4.0);
    // Positions never go back.
    assert!(got.windows(2).all(|w| w[0].0 <= w[1].0));
    assert_eq!(sink.unknown.load(Ordering::Relaxed), 1);
    let stats = watcher.stats();
    assert_eq!(stats.records_read[0].load(Ordering::Relaxed), 2, "series");
    assert_eq!(stats.records_read[1].load(Ordering::Relaxed), 4, "samples");
    assert_eq!(stats.records_read[3].load(Ordering::Relaxed), 1);
    assert_eq!(stats.records_read[4].load(Ordering::Relaxed), 1);
    assert_eq!(stats.records_read[5].load(Ordering::Relaxed), 1);
    assert_eq!(stats.current_segment.load(Ordering::Relaxed), 2);
}

#[test]
fn a_torn_record_ends_a_finished_segment_and_reading_goes_on() {
    let dir = tempfile::tempdir().unwrap();
    let new = now() + 3_600_000;
    let mut w = Writer::open(dir.path());
    w.series(1, labels!("__name__" => "m"));
    w.samples(&[(1, new, 1.0)]);
    w.wal.next_segment().unwrap();
    w.samples(&[(1, new + 1, 2.0)]);
    // A crash in the middle of a record at the end of segment 0: a first fragment whose
    // record never got its last one.
    let data = b"part of a record";
    let mut torn = vec![2u8];
    torn.extend_from_slice(&(data.len() as u16).to_be_bytes());
    torn.extend_from_slice(&crc32c::crc32c(data).to_be_bytes());
    torn.extend_from_slice(data);
    let path = segment_path(dir.path(), 0);
    let mut bytes = std::fs::read(&path).unwrap();
    bytes.extend_from_slice(&torn);
    std::fs::write(&path, bytes).unwrap();

    let sink = Arc::new(Recorder::default());
    let watcher = WalWatcher::start("q", sink.clone(), options(dir.path())).unwrap();
    wait_for("both samples", || sink.floats().len() == 2);
    watcher.stop();
    assert_eq!(
        sink.floats(),
        vec![
            (labels!("__name__" => "m"), new, 1.0),
            (labels!("__name__" => "m"), new + 1, 2.0)
        ]
    );
    assert_eq!(
        watcher.stats().segments_cut_short.load(Ordering::Relaxed),
        1
    );
}

#[test]
fn a_new_checkpoint_forgets_the_series_the_head_dropped() {
    let dir = tempfile::tempdir().unwrap();
    let new = now() + 3_600_000;
    let mut w = Writer::open(dir.path());
    w.series(1, labels!("__name__" => "kept"));
    w.series(2, labels!("__name__" => "dropped"));
    w.wal.next_segment().unwrap();
    w.samples(&[(1, new, 1.0), (2, new, 1.0)]);
    w.wal.next_segment().unwrap();
    w.wal.next_segment().unwrap();

    let sink = Arc::new(Recorder::default());
    let watcher = WalWatcher::start("q", sink.clone(), options(dir.path())).unwrap();
    wait_for("the first samples", || sink.floats().len() == 2);
    wait_for("the live segment", || {
        watcher.stats().current_segment.load(Ordering::Relaxed) == 3
    });
    assert_eq!(watcher.stats().series.load(Ordering::Relaxed), 2);
    // The head keeps only series 1 and checkpoints segments 0..=1, then deletes them.
    checkpoint_in(dir.path(), Compression::Snappy, 0, 1, |r| r == 1, new).unwrap();
    w.wal.truncate(2).unwrap();
    wait_for("the garbage collection", || {
        watcher.stats().series.load(Ordering::Relaxed) == 1
    });
    w.samples(&[(2, new + 1, 2.0), (1, new + 1, 2.0)]);
    wait_for("the next sample", || sink.floats().len() == 3);
    watcher.stop();
    assert_eq!(
        sink.floats()[2],
        (labels!("__name__" => "kept"), new + 1, 2.0)
    );
    assert_eq!(sink.unknown.load(Ordering::Relaxed), 1);
    assert_eq!(watcher.stats().segments_skipped.load(Ordering::Relaxed), 0);
}

#[test]
fn a_blocked_sink_holds_the_reader_and_a_restart_resumes_where_delivery_stopped() {
    let dir = tempfile::tempdir().unwrap();
    let progress = dir.path().join("progress/q.progress");
    let new = now() + 3_600_000;
    let mut w = Writer::open(dir.path());
    w.series(1, labels!("__name__" => "m"));
    let mut opts = options(dir.path());
    opts.progress_file = Some(progress.clone());

    let sink = Arc::new(Recorder::default());
    let watcher = WalWatcher::start("q", sink.clone(), opts.clone()).unwrap();
    w.samples(&[(1, new, 0.0)]);
    wait_for("the first sample", || sink.floats().len() == 1);
    sink.blocked.store(true, Ordering::Relaxed);
    for i in 1..50 {
        w.samples(&[(1, new + i, i as f64)]);
        if i % 10 == 0 {
            w.wal.next_segment().unwrap();
        }
    }
    wait_for("the reader to block", || sink.waiting.lock().is_some());
    let blocked_at = sink.waiting.lock().unwrap();
    watcher.stop();
    watcher.save_progress();
    assert_eq!(sink.floats().len(), 1, "nothing passed the blocked sink");
    assert_eq!(
        std::fs::read_to_string(&progress).unwrap(),
        format!("{} {}\n", blocked_at.segment, blocked_at.offset)
    );

    // A restart (hearth was down, the WAL kept growing) resumes at the blocked record.
    drop(w);
    let mut w = Writer::open(dir.path());
    w.samples(&[(1, new + 50, 50.0)]);
    let sink2 = Arc::new(Recorder::default());
    let watcher = WalWatcher::start("q", sink2.clone(), opts).unwrap();
    wait_for("everything after the first sample", || {
        sink2.floats().len() == 50
    });
    watcher.stop();
    let ts: Vec<i64> = sink2.floats().iter().map(|s| s.1).collect();
    assert_eq!(ts, (1..=50).map(|i| new + i).collect::<Vec<_>>());
}

#[test]
fn a_truncation_past_the_reader_jumps_to_the_checkpoint_and_counts_what_it_skipped() {
    let dir = tempfile::tempdir().unwrap();
    let new = now() + 3_600_000;
    let mut w = Writer::open(dir.path());
    w.series(1, labels!("__name__" => "m"));
    let sink = Arc::new(Recorder::default());
    sink.blocked.store(true, Ordering::Relaxed);
    let watcher = WalWatcher::start("q", sink.clone(), options(dir.path())).unwrap();
    w.samples(&[(1, new, 0.0)]);
    wait_for("the reader to block", || sink.waiting.lock().is_some());
    // Segments 1 and 2 fill while the reader waits in segment 0.
    for seg in 1..=2 {
        w.wal.next_segment().unwrap();
        w.samples(&[(1, new + seg, seg as f64)]);
    }
    w.wal.next_segment().unwrap();
    w.samples(&[(1, new + 3, 3.0)]);
    // The head checkpoints 0..=2 keeping samples from new+2 on, and deletes them.
    checkpoint_in(dir.path(), Compression::Snappy, 0, 2, |_| true, new + 2).unwrap();
    w.wal.truncate(3).unwrap();
    sink.blocked.store(false, Ordering::Relaxed);
    wait_for("the samples after the jump", || {
        sink.floats().iter().any(|s| s.1 == new + 3)
    });
    watcher.stop();
    let ts: Vec<i64> = sink.floats().iter().map(|s| s.1).collect();
    // The open segment 0 is read to its end; segment 1 is lost; the checkpoint's sample
    // of segment 2 is newer than anything read, so it is sent; then segment 3.
    assert_eq!(ts, [new, new + 2, new + 3]);
    assert_eq!(watcher.stats().segments_skipped.load(Ordering::Relaxed), 2);
}
