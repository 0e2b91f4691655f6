#![allow(clippy::unwrap_used, clippy::expect_used)]
//! The head through its public API: append semantics as upstream's head tests pin them,
//! queries, isolation, replay, truncation, out-of-order ingestion, exemplars, and the
//! block source the compactor reads.

use std::path::Path;

use hearth_model::{
    CounterResetHint, Exemplar, Histogram, HistogramValue, Labels, MatchOp, Matcher, Metadata,
    MetricType, Span, is_stale_nan, labels, stale_nan,
};
use hearth_tsdb::block_source::BlockSource;
use hearth_tsdb::chunkenc::{CounterResetHeader, HistogramIterator};
use hearth_tsdb::head::{Head, HeadOptions};
use hearth_tsdb::storage::{AppendError, Querier, ValueType};
use hearth_tsdb::wal::WalOptions;

fn opts() -> HeadOptions {
    HeadOptions {
        stripe_bits: 4,
        ..HeadOptions::default()
    }
}

fn eq(name: &str, value: &str) -> Matcher {
    Matcher::new(MatchOp::Equal, name, value).unwrap()
}

/// Every sample of every series matching `m` in `[mint, maxt]`, as (labels, [(t, v)]).
fn floats(q: &dyn Querier, m: &[Matcher]) -> Vec<(Labels, Vec<(i64, f64)>)> {
    let set = q.select(true, None, m).unwrap();
    set.series
        .iter()
        .map(|s| {
            let mut it = s.iterator();
            let mut out = Vec::new();
            loop {
                match it.next() {
                    ValueType::None => break,
                    ValueType::Float => out.push(it.at()),
                    ValueType::Histogram | ValueType::FloatHistogram => {
                        let (t, h) = it.at_float_histogram();
                        out.push((t, h.sum))
                    }
                }
            }
            assert!(it.err().is_none(), "{:?}", it.err());
            (s.labels().clone(), out)
        })
        .collect()
}

fn histogram(count: u64) -> Histogram {
    Histogram {
        counter_reset_hint: CounterResetHint::Unknown,
        schema: 0,
        zero_threshold: 0.001,
        zero_count: 1,
        count,
        sum: count as f64 * 1.5,
        positive_spans: vec![Span {
            offset: 0,
            length: 2,
        }],
        positive_buckets: vec![1, 0],
        ..Histogram::default()
    }
}

fn valid_histogram(count: u64) -> Histogram {
    // zero_count 1 + buckets [1, count-2] (delta-encoded: 1, count-3).
    let mut h = histogram(count);
    h.positive_buckets = vec![1, count as i64 - 3];
    h
}

#[test]
fn append_commit_rollback_and_visibility() {
    let dir = tempfile::tempdir().unwrap();
    let head = Head::open(dir.path(), opts()).unwrap();
    let a = labels!("__name__" => "up", "job" => "a");
    let b = labels!("__name__" => "up", "job" => "b");
    let mut app = head.appender();
    let ra = app.append(None, &a, 1000, 1.0).unwrap();
    app.append(Some(ra), &a, 2000, 2.0).unwrap();
    app.append(None, &b, 1000, 5.0).unwrap();
    assert_eq!(
        app.append(Some(ra), &a, 1500, 9.0),
        Err(AppendError::OutOfOrderSample)
    );
    assert_eq!(
        app.append(Some(ra), &a, 2000, 3.0),
        Err(AppendError::DuplicateSampleForTimestamp)
    );
    // An identical duplicate is accepted (and stored once).
    app.append(Some(ra), &a, 2000, 2.0).unwrap();
    assert!(
        floats(&head.querier(0, 10_000), &[eq("__name__", "up")]).is_empty(),
        "nothing is visible before commit"
    );
    app.commit().unwrap();
    let got = floats(&head.querier(0, 10_000), &[eq("__name__", "up")]);
    assert_eq!(
        got,
        vec![
            (a.clone(), vec![(1000, 1.0), (2000, 2.0)]),
            (b.clone(), vec![(1000, 5.0)])
        ]
    );
    let got = floats(&head.querier(0, 1500), &[eq("job", "a")]);
    assert_eq!(got, vec![(a.clone(), vec![(1000, 1.0)])]);

    let mut app = head.appender();
    app.append(Some(ra), &a, 3000, 3.0).unwrap();
    app.rollback().unwrap();
    let mut app = head.appender();
    app.append(Some(ra), &a, 2500, 2.5).unwrap();
    drop(app); // dropping rolls back too
    let got = floats(&head.querier(0, 10_000), &[eq("job", "a")]);
    assert_eq!(got[0].1, [(1000, 1.0), (2000, 2.0)]);
    // Committed duplicates and older samples are refused.
    let mut app = head.appender();
    assert_eq!(
        app.append(Some(ra), &a, 2000, 7.0),
        Err(AppendError::DuplicateSampleForTimestamp)
    );
    assert_eq!(
        app.append(Some(ra), &a, 1999, 7.0),
        Err(AppendError::OutOfOrderSample)
    );
    app.commit().unwrap();
    let s = head.stats();
    assert_eq!(s.series, 2);
    assert_eq!(s.float_samples_appended, 3);
    assert_eq!((s.min_time, s.max_time), (1000, 2000));
    assert!(s.out_of_order_float_rejected >= 2);
    let q = head.querier(0, 10_000);
    assert_eq!(q.label_values("job", &[]).unwrap(), ["a", "b"]);
    assert_eq!(
        q.label_names(&[eq("job", "a")]).unwrap(),
        ["__name__", "job"]
    );
    assert_eq!(q.label_values("job", &[eq("job", "b")]).unwrap(), ["b"]);
    head.close().unwrap();
}

#[test]
fn out_of_bounds_and_empty_labels() {
    let dir = tempfile::tempdir().unwrap();
    let head = Head::open(dir.path(), opts()).unwrap();
    let a = labels!("__name__" => "x");
    let mut app = head.appender();
    app.append(None, &a, 10 * 3_600_000, 1.0).unwrap();
    app.commit().unwrap();
    // Older than half a chunk range before the head's max time.
    let mut app = head.appender();
    let b = labels!("__name__" => "y");
    assert_eq!(
        app.append(None, &b, 10 * 3_600_000 - 3_600_001, 1.0),
        Err(AppendError::OutOfBounds)
    );
    app.append(None, &b, 10 * 3_600_000 - 3_600_000, 1.0)
        .unwrap();
    assert_eq!(
        app.append(None, &Labels::empty(), 10 * 3_600_000, 1.0),
        Err(AppendError::EmptyLabels)
    );
    app.commit().unwrap();
    head.set_min_valid_time(11 * 3_600_000);
    let mut app = head.appender();
    assert_eq!(
        app.append(None, &a, 11 * 3_600_000 - 1, 1.0),
        Err(AppendError::OutOfBounds)
    );
}

#[test]
fn stale_markers_floats_and_histograms() {
    let dir = tempfile::tempdir().unwrap();
    let head = Head::open(dir.path(), opts()).unwrap();
    let f = labels!("__name__" => "f");
    let h = labels!("__name__" => "h");
    let mut app = head.appender();
    app.append(None, &f, 1000, 1.0).unwrap();
    app.append(None, &f, 2000, stale_nan()).unwrap();
    let hv = HistogramValue::Integer(valid_histogram(5));
    app.append_histogram(None, &h, 1000, &hv).unwrap();
    // A float staleness marker on a histogram series becomes a histogram one.
    app.append(None, &h, 2000, stale_nan()).unwrap();
    app.commit().unwrap();
    let q = head.querier(0, 10_000);
    let set = q.select(true, None, &[eq("__name__", "f")]).unwrap();
    let mut it = set.series[0].iterator();
    assert_eq!(it.next(), ValueType::Float);
    assert_eq!(it.next(), ValueType::Float);
    assert!(is_stale_nan(it.at().1));
    let set = q.select(true, None, &[eq("__name__", "h")]).unwrap();
    let mut it = set.series[0].iterator();
    assert_eq!(it.next(), ValueType::Histogram);
    assert_eq!(it.at_histogram().1.count, 5);
    assert_eq!(it.next(), ValueType::Histogram);
    assert!(is_stale_nan(it.at_histogram().1.sum));
    assert_eq!(it.next(), ValueType::None);
}

#[test]
fn histograms_counter_resets_cut_chunks_and_survive_replay() {
    let dir = tempfile::tempdir().unwrap();
    let head = Head::open(dir.path(), opts()).unwrap();
    let h = labels!("__name__" => "h");
    let mut app = head.appender();
    for (i, c) in [5u64, 6, 7, 3, 4].iter().enumerate() {
        let hv = HistogramValue::Integer(valid_histogram(*c));
        app.append_histogram(None, &h, 1000 * (i as i64 + 1), &hv)
            .unwrap();
    }
    assert!(matches!(
        app.append_histogram(None, &h, 500, &HistogramValue::Integer(valid_histogram(3))),
        Err(AppendError::OutOfOrderSample)
    ));
    let bad = HistogramValue::Integer(histogram(5));
    let mut broken = match bad {
        HistogramValue::Integer(h) => h,
        HistogramValue::Float(_) => unreachable!(),
    };
    broken.positive_buckets = vec![1];
    assert!(matches!(
        app.append_histogram(None, &h, 9000, &HistogramValue::Integer(broken)),
        Err(AppendError::InvalidHistogram(_))
    ));
    app.commit().unwrap();
    let series: Vec<_> = head
        .series_in_range(0, 100_000)
        .unwrap()
        .map(|s| s.unwrap())
        .collect();
    assert_eq!(series.len(), 1);
    // The counter reset at the 4th sample started a second chunk.
    assert_eq!(series[0].chunks.len(), 2);
    assert_eq!(series[0].chunks[1].min_time, 4000);
    let counts = |head: &Head| {
        let q = head.querier(0, 100_000);
        let set = q.select(true, None, &[eq("__name__", "h")]).unwrap();
        let mut it = set.series[0].iterator();
        let mut out = Vec::new();
        while it.next() == ValueType::Histogram {
            let (_, h) = it.at_histogram();
            out.push((h.count, h.counter_reset_hint));
        }
        out
    };
    let before = counts(&head);
    assert_eq!(
        before.iter().map(|c| c.0).collect::<Vec<_>>(),
        [5, 6, 7, 3, 4]
    );
    let second = &series[0].chunks[1];
    let it = HistogramIterator::new(second.encoding, &second.data);
    assert_eq!(it.counter_reset_header(), CounterResetHeader::CounterReset);
    head.close().unwrap();
    let head = Head::open(dir.path(), opts()).unwrap();
    assert_eq!(counts(&head), before);
}

#[test]
fn series_limit() {
    let dir = tempfile::tempdir().unwrap();
    let head = Head::open(
        dir.path(),
        HeadOptions {
            max_series: 2,
            ..opts()
        },
    )
    .unwrap();
    let mut app = head.appender();
    app.append(None, &labels!("__name__" => "a"), 1, 1.0)
        .unwrap();
    app.append(None, &labels!("__name__" => "b"), 1, 1.0)
        .unwrap();
    let err = app
        .append(None, &labels!("__name__" => "c"), 1, 1.0)
        .unwrap_err();
    assert!(
        matches!(&err, AppendError::SeriesLimit { limit: 2, labels } if labels.contains("\"c\"")),
        "{err}"
    );
    // Existing series still take samples.
    app.append(None, &labels!("__name__" => "a"), 2, 1.0)
        .unwrap();
    app.commit().unwrap();
    assert_eq!(head.stats().series_limit_rejections, 1);
}

#[test]
fn querier_sees_only_commits_before_it() {
    let dir = tempfile::tempdir().unwrap();
    let head = Head::open(dir.path(), opts()).unwrap();
    let a = labels!("__name__" => "m", "i" => "a");
    let b = labels!("__name__" => "m", "i" => "b");
    let mut app = head.appender();
    app.append(None, &a, 10, 1.0).unwrap();
    app.append(None, &b, 10, 1.0).unwrap();
    app.commit().unwrap();
    let old = head.querier(0, 1000);
    for t in [20, 30] {
        let mut app = head.appender();
        app.append(None, &a, t, 2.0).unwrap();
        app.append(None, &b, t, 2.0).unwrap();
        app.commit().unwrap();
    }
    let got = floats(&old, &[eq("__name__", "m")]);
    assert_eq!(got[0].1, [(10, 1.0)]);
    assert_eq!(got[1].1, [(10, 1.0)]);
    let new = head.querier(0, 1000);
    assert_eq!(floats(&new, &[eq("__name__", "m")])[1].1.len(), 3);
    // A series created after the querier is not visible to it.
    let mut app = head.appender();
    app.append(None, &labels!("__name__" => "m", "i" => "c"), 40, 1.0)
        .unwrap();
    app.commit().unwrap();
    assert_eq!(floats(&new, &[eq("__name__", "m")]).len(), 2);
}

#[test]
fn replay_gives_identical_results() {
    let dir = tempfile::tempdir().unwrap();
    let o = HeadOptions {
        max_exemplars: 100,
        mmap_after_bytes: 1,
        ..opts()
    };
    let head = Head::open(dir.path(), o.clone()).unwrap();
    let mut refs = vec![None; 20];
    for t in 0..500 {
        let mut app = head.appender();
        for (i, r) in refs.iter_mut().enumerate() {
            let l = labels!("__name__" => "metric", "i" => i.to_string().as_str());
            *r = Some(
                app.append(*r, &l, t * 15_000, (t * i as i64) as f64)
                    .unwrap(),
            );
        }
        if t % 50 == 0 {
            let r0 = refs[0].unwrap();
            let e = Exemplar {
                labels: labels!("trace_id" => t.to_string()),
                value: t as f64,
                timestamp: Some(t * 15_000),
            };
            app.append_exemplar(r0, &Labels::empty(), &e).unwrap();
            let m = Metadata {
                metric_type: MetricType::Counter,
                help: "help".to_string(),
                unit: String::new(),
            };
            app.update_metadata(r0, &Labels::empty(), &m).unwrap();
        }
        app.commit().unwrap();
    }
    let all = [Matcher::new(MatchOp::Regex, "__name__", ".+").unwrap()];
    let before = floats(&head.querier(i64::MIN, i64::MAX), &all);
    let ex_before = head.exemplars(0, i64::MAX, &[all.to_vec()]);
    assert_eq!(ex_before[0].exemplars.len(), 10);
    assert!(head.stats().mmap_chunks_written > 0);
    head.close().unwrap();

    let head = Head::open(dir.path(), o.clone()).unwrap();
    let r = head.replay_stats();
    assert!(r.mmapped_chunks > 0, "{r:?}");
    assert_eq!(r.series, 20);
    assert!(r.wal_corruption.is_none() && r.chunks_corruption.is_none());
    assert_eq!(floats(&head.querier(i64::MIN, i64::MAX), &all), before);
    assert_eq!(head.exemplars(0, i64::MAX, &[all.to_vec()]), ex_before);
    // Appends continue where the data ends, with the same references.
    let mut app = head.appender();
    let l = labels!("__name__" => "metric", "i" => "3");
    assert_eq!(
        app.append(None, &l, 500 * 15_000, 1.0).unwrap(),
        refs[3].unwrap()
    );
    app.commit().unwrap();
    drop(head); // without close: the WAL still has it all
    let head = Head::open(dir.path(), o).unwrap();
    let after = floats(&head.querier(i64::MIN, i64::MAX), &[eq("i", "3")]);
    assert_eq!(after[0].1.len(), 501);
}

#[test]
fn truncation_drops_old_data_and_checkpoints_the_wal() {
    let dir = tempfile::tempdir().unwrap();
    let o = HeadOptions {
        wal: Some(WalOptions {
            segment_size: 32 * 1024,
            ..WalOptions::default()
        }),
        mmap_after_bytes: 1,
        ..opts()
    };
    let head = Head::open(dir.path(), o.clone()).unwrap();
    let hour = 3_600_000;
    // Series "old" only in the first hours, "live" all along.
    for t in (0..6 * hour).step_by(10_000) {
        let mut app = head.appender();
        for i in 0..10 {
            let l = labels!("__name__" => "live", "i" => i.to_string().as_str());
            app.append(None, &l, t, t as f64).unwrap();
        }
        if t < 2 * hour {
            app.append(None, &labels!("__name__" => "old"), t, 1.0)
                .unwrap();
        }
        app.commit().unwrap();
    }
    assert_eq!(head.num_series(), 11);
    let st = head.truncate(4 * hour).unwrap();
    assert_eq!(st.series_removed, 1);
    assert!(st.chunks_removed > 0);
    assert!(st.checkpoint.is_some(), "{st:?}");
    assert!(head.min_time() >= 4 * hour);
    let all = [Matcher::new(MatchOp::Regex, "__name__", ".+").unwrap()];
    let got = floats(&head.querier(0, i64::MAX), &all);
    assert_eq!(got.len(), 10);
    assert!(got[0].1.first().unwrap().0 >= 4 * hour);
    let n = got[0].1.len();
    // More data after the truncation, then replay: checkpoint plus remaining segments.
    let mut app = head.appender();
    app.append(
        None,
        &labels!("__name__" => "live", "i" => "0"),
        6 * hour,
        1.0,
    )
    .unwrap();
    app.commit().unwrap();
    head.close().unwrap();
    let head = Head::open(
        dir.path(),
        HeadOptions {
            min_valid_time: 4 * hour,
            ..o
        },
    )
    .unwrap();
    let r = head.replay_stats();
    assert!(r.checkpoint.is_some(), "{r:?}");
    let got = floats(&head.querier(0, i64::MAX), &all);
    assert_eq!(got.len(), 10);
    assert_eq!(got[0].1.len(), n + 1);
    assert_eq!(got[1].1.len(), n);
}

#[test]
fn out_of_order_window() {
    let dir = tempfile::tempdir().unwrap();
    let o = HeadOptions {
        out_of_order_time_window: 60_000,
        out_of_order_cap_max: 4,
        ..opts()
    };
    let head = Head::open(dir.path(), o.clone()).unwrap();
    let a = labels!("__name__" => "a");
    let mut app = head.appender();
    for t in [100_000, 110_000, 120_000] {
        app.append(None, &a, t, t as f64).unwrap();
    }
    app.commit().unwrap();
    let mut app = head.appender();
    for t in [105_000, 101_000, 90_000, 115_000, 119_000, 70_000] {
        app.append(None, &a, t, t as f64).unwrap();
    }
    assert_eq!(
        app.append(None, &a, 50_000, 1.0),
        Err(AppendError::TooOldSample)
    );
    app.commit().unwrap();
    let want: Vec<(i64, f64)> = [
        70_000, 90_000, 100_000, 101_000, 105_000, 110_000, 115_000, 119_000, 120_000,
    ]
    .iter()
    .map(|t| (*t, *t as f64))
    .collect();
    let got = floats(&head.querier(0, i64::MAX), &[eq("__name__", "a")]);
    assert_eq!(got[0].1, want);
    // Seek lands on the right stream.
    let q = head.querier(0, i64::MAX);
    let set = q.select(false, None, &[eq("__name__", "a")]).unwrap();
    let mut it = set.series[0].iterator();
    assert_eq!(it.seek(100_500), ValueType::Float);
    assert_eq!(it.at_t(), 101_000);
    assert_eq!(it.next(), ValueType::Float);
    assert_eq!(it.at_t(), 105_000);
    assert_eq!(head.stats().out_of_order_samples_appended, 6);
    // The block source merges them into ordered chunks.
    let s: Vec<_> = head.series_in_range(0, 200_000).unwrap().collect();
    let s = s[0].as_ref().unwrap();
    assert_eq!(s.chunks.iter().map(|c| c.min_time).min(), Some(70_000));
    head.close().unwrap();
    let head = Head::open(dir.path(), o).unwrap();
    let r = head.replay_stats();
    assert_eq!(r.wbl_samples, 6, "{r:?}");
    let got = floats(&head.querier(0, i64::MAX), &[eq("__name__", "a")]);
    assert_eq!(got[0].1, want);
}

#[test]
fn exemplars_are_stored_and_queried() {
    let dir = tempfile::tempdir().unwrap();
    let head = Head::open(
        dir.path(),
        HeadOptions {
            max_exemplars: 10,
            ..opts()
        },
    )
    .unwrap();
    let a = labels!("__name__" => "req", "path" => "/");
    let mut app = head.appender();
    let r = app.append(None, &a, 1000, 1.0).unwrap();
    let e = |v: f64, t: Option<i64>| Exemplar {
        labels: labels!("trace_id" => "abc"),
        value: v,
        timestamp: t,
    };
    // Without a timestamp the exemplar takes the sample's.
    app.append_exemplar(r, &a, &e(1.0, None)).unwrap();
    app.commit().unwrap();
    let mut app = head.appender();
    assert_eq!(
        app.append_exemplar(r, &a, &e(2.0, Some(500))),
        Err(AppendError::OutOfOrderExemplar)
    );
    app.append_exemplar(r, &a, &e(1.0, Some(1000))).unwrap(); // duplicate: ignored
    app.append_exemplar(r, &a, &e(3.0, Some(2000))).unwrap();
    app.commit().unwrap();
    let got = head.exemplars(0, 5000, &[vec![eq("path", "/")]]);
    assert_eq!(got.len(), 1);
    assert_eq!(
        got[0]
            .exemplars
            .iter()
            .map(|e| (e.timestamp, e.value))
            .collect::<Vec<_>>(),
        [(Some(1000), 1.0), (Some(2000), 3.0)]
    );
    assert!(
        head.exemplars(0, 5000, &[vec![eq("path", "/x")]])
            .is_empty()
    );
    let s = head.stats();
    assert_eq!((s.exemplars_in_storage, s.series_with_exemplars), (2, 1));
}

#[test]
fn block_source_yields_sorted_series_with_chunks_in_range() {
    let dir = tempfile::tempdir().unwrap();
    let head = Head::open(dir.path(), opts()).unwrap();
    let mut app = head.appender();
    for i in (0..5).rev() {
        let l = labels!("__name__" => "m", "i" => i.to_string().as_str());
        for t in 0..300 {
            app.append(None, &l, t * 10_000, t as f64).unwrap();
        }
    }
    app.commit().unwrap();
    let (mint, maxt) = (500_000, 2_000_000);
    let series: Vec<_> = head
        .series_in_range(mint, maxt)
        .unwrap()
        .map(|s| s.unwrap())
        .collect();
    assert_eq!(series.len(), 5);
    assert!(series.windows(2).all(|w| w[0].labels < w[1].labels));
    for s in &series {
        let mut n = 0;
        let mut prev = i64::MIN;
        for c in &s.chunks {
            assert!(c.min_time >= mint && c.max_time < maxt);
            assert!(c.min_time > prev);
            prev = c.max_time;
            let chunk = hearth_tsdb::chunkenc::Chunk::new(c.encoding, c.data.clone()).unwrap();
            n += chunk.num_samples();
        }
        assert_eq!(n, 150);
    }
    let syms = head.symbols(mint, maxt).unwrap();
    assert_eq!(syms, ["0", "1", "2", "3", "4", "__name__", "i", "m"]);
    assert_eq!(head.time_range(), (0, 2_990_000));
}

fn corrupt_last_wal_segment(dir: &Path) {
    let wal = dir.join("wal");
    let mut segs: Vec<_> = std::fs::read_dir(&wal)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_file() && std::fs::metadata(p).unwrap().len() > 0)
        .collect();
    segs.sort();
    let last = segs.last().unwrap();
    let mut b = std::fs::read(last).unwrap();
    let mid = b.len() / 2;
    for x in &mut b[mid..mid + 64] {
        *x ^= 0x5a;
    }
    std::fs::write(last, b).unwrap();
}

#[test]
fn corrupt_wal_and_chunk_files_are_reported_not_fatal() {
    let dir = tempfile::tempdir().unwrap();
    let o = HeadOptions {
        mmap_after_bytes: 1,
        ..opts()
    };
    let head = Head::open(dir.path(), o.clone()).unwrap();
    for t in 0..2000 {
        let mut app = head.appender();
        for i in 0..10 {
            let l = labels!("__name__" => "m", "i" => i.to_string().as_str());
            app.append(None, &l, t * 1000, t as f64).unwrap();
        }
        app.commit().unwrap();
    }
    head.close().unwrap();
    // Damage the middle of the chunk file: replay cuts it there, the WAL fills in.
    let chunks = dir.path().join("chunks_head").join("000001");
    let mut b = std::fs::read(&chunks).unwrap();
    let mid = b.len() / 2;
    b[mid] ^= 0xff;
    std::fs::write(&chunks, b).unwrap();
    let head = Head::open(dir.path(), o.clone()).unwrap();
    let r = head.replay_stats();
    assert!(r.chunks_corruption.is_some(), "{r:?}");
    let got = floats(&head.querier(0, i64::MAX), &[eq("__name__", "m")]);
    assert_eq!(got.len(), 10);
    assert!(got.iter().all(|(_, s)| s.len() == 2000));
    head.close().unwrap();

    // Damage the WAL: replay stops there, repairs, and says so.
    corrupt_last_wal_segment(dir.path());
    let head = Head::open(dir.path(), o.clone()).unwrap();
    let r = head.replay_stats();
    assert!(r.wal_corruption.is_some(), "{r:?}");
    assert!(head.stats().wal_corruptions >= 1);
    // And keeps working.
    let mut app = head.appender();
    app.append(
        None,
        &labels!("__name__" => "m", "i" => "0"),
        5_000_000,
        1.0,
    )
    .unwrap();
    app.commit().unwrap();
    head.close().unwrap();
    let head = Head::open(dir.path(), o).unwrap();
    assert!(head.replay_stats().wal_corruption.is_none());

    // A torn tail: a crash while the last record was being written.
    let mut app = head.appender();
    app.append(
        None,
        &labels!("__name__" => "m", "i" => "0"),
        5_001_000,
        1.0,
    )
    .unwrap();
    app.commit().unwrap();
    drop(head);
    let wal = dir.path().join("wal");
    let mut segs: Vec<_> = std::fs::read_dir(&wal)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_file() && std::fs::metadata(p).unwrap().len() > 0)
        .collect();
    segs.sort();
    let last = segs.last().unwrap();
    let len = std::fs::metadata(last).unwrap().len();
    let f = std::fs::OpenOptions::new().write(true).open(last).unwrap();
    f.set_len(len - 3).unwrap();
    drop(f);
    let head = Head::open(dir.path(), opts()).unwrap();
    let r = head.replay_stats();
    assert!(
        r.wal_torn_tail.is_some() || r.wal_corruption.is_some(),
        "{r:?}"
    );
}
