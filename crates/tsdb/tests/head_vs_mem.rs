#![allow(clippy::unwrap_used, clippy::expect_used)]
//! Property test: the head and `MemStorage` (the reference for append semantics) get the
//! same random transactions and must answer every append and every query the same way,
//! also after the head is closed and replayed from its WAL and chunk files.

use hearth_model::{
    Histogram, HistogramValue, Labels, MatchOp, Matcher, Span, Timestamp, stale_nan,
};
use hearth_tsdb::head::{Head, HeadOptions};
use hearth_tsdb::mem_storage::MemStorage;
use hearth_tsdb::storage::{Appendable, Queryable, SampleIterator, ValueType};

/// xorshift64*: deterministic, dependency-free randomness.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
    fn chance(&mut self, percent: u64) -> bool {
        self.below(100) < percent
    }
}

fn series_labels(i: u64) -> Labels {
    let name = if i % 7 == 6 { "h_metric" } else { "f_metric" };
    Labels::new([
        ("__name__", name.to_string()),
        ("job", format!("job{}", i % 3)),
        ("instance", format!("host{}", i % 5)),
        ("id", i.to_string()),
    ])
}

fn is_histogram_series(i: u64) -> bool {
    i % 7 == 6
}

fn histogram(rng: &mut Rng, t: i64) -> HistogramValue {
    let a = (t / 1000) as u64 % 50 + rng.below(3);
    HistogramValue::Integer(Histogram {
        schema: 1,
        zero_threshold: 0.001,
        zero_count: 1,
        count: 1 + a + 2,
        sum: a as f64 * 0.5,
        positive_spans: vec![Span {
            offset: 0,
            length: 2,
        }],
        positive_buckets: vec![a as i64, 2 - a as i64],
        ..Histogram::default()
    })
}

/// (t, value bits or histogram (count, sum bits)) of every sample of a series.
fn drain(it: &mut dyn SampleIterator) -> Vec<(Timestamp, u64, u64)> {
    let mut out = Vec::new();
    loop {
        match it.next() {
            ValueType::None => break,
            ValueType::Float => {
                let (t, v) = it.at();
                out.push((t, v.to_bits(), 0));
            }
            _ => {
                let (t, h) = it.at_float_histogram();
                out.push((t, h.count.to_bits(), h.sum.to_bits()));
            }
        }
    }
    assert!(it.err().is_none(), "{:?}", it.err());
    out
}

fn random_matchers(rng: &mut Rng) -> Vec<Matcher> {
    let mut ms = Vec::new();
    let name = if rng.chance(50) {
        "f_metric"
    } else {
        "h_metric"
    };
    match rng.below(4) {
        0 => ms.push(Matcher::new(MatchOp::Equal, "__name__", name).unwrap()),
        1 => ms.push(Matcher::new(MatchOp::Regex, "__name__", ".+_metric").unwrap()),
        2 => ms.push(Matcher::new(MatchOp::NotEqual, "__name__", name).unwrap()),
        _ => ms.push(Matcher::new(MatchOp::Regex, "job", "job[01]").unwrap()),
    }
    match rng.below(5) {
        0 => ms.push(Matcher::new(MatchOp::NotRegex, "instance", "host[23]").unwrap()),
        1 => ms.push(Matcher::new(MatchOp::Equal, "job", "job2").unwrap()),
        2 => ms.push(Matcher::new(MatchOp::Equal, "nope", "").unwrap()),
        _ => {}
    }
    ms
}

/// Compares 20 random queries; returns how many samples they held.
fn compare(head: &Head, mem: &MemStorage, rng: &mut Rng, max_t: i64, what: &str) -> usize {
    let mut samples = 0;
    for _ in 0..20 {
        let (a, b) = (
            rng.below(max_t as u64 + 2) as i64,
            rng.below(max_t as u64 + 2) as i64,
        );
        let (mint, maxt) = if rng.chance(20) {
            (i64::MIN, i64::MAX)
        } else {
            (a.min(b), a.max(b))
        };
        let ms = random_matchers(rng);
        let hq = Queryable::querier(head, mint, maxt).unwrap();
        let mq = mem.querier(mint, maxt).unwrap();
        let hs = hq.select(true, None, &ms).unwrap();
        let msel = mq.select(true, None, &ms).unwrap();
        let got: Vec<(Labels, Vec<_>)> = hs
            .series
            .iter()
            .map(|s| (s.labels().clone(), drain(&mut *s.iterator())))
            // Like upstream, the head may return a series whose chunks overlap the range
            // without a sample in it.
            .filter(|(_, v)| !v.is_empty())
            .collect();
        let want: Vec<(Labels, Vec<_>)> = msel
            .series
            .iter()
            .map(|s| (s.labels().clone(), drain(&mut *s.iterator())))
            .collect();
        assert_eq!(got, want, "{what}: select {ms:?} in [{mint}, {maxt}]");
        samples += want.iter().map(|w| w.1.len()).sum::<usize>();
        // Seeking lands on the same sample.
        for (h, m) in hs.series.iter().zip(msel.series.iter()) {
            if h.labels() != m.labels() {
                break;
            }
            let t = mint.max(0) + rng.below(max_t as u64 + 1) as i64;
            let (mut hi, mut mi) = (h.iterator(), m.iterator());
            let (hv, mv) = (hi.seek(t), mi.seek(t));
            assert_eq!(hv, mv, "{what}: seek {t} in {}", h.labels());
            if hv != ValueType::None {
                assert_eq!(hi.at_t(), mi.at_t());
                assert_eq!(hi.next(), mi.next());
                assert_eq!(hi.at_t(), mi.at_t());
            }
        }
    }
    samples
}

#[test]
fn head_answers_like_mem_storage() {
    for seed in 1..=6u64 {
        let mut rng = Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15));
        let dir = tempfile::tempdir().unwrap();
        let o = HeadOptions {
            stripe_bits: 3,
            samples_per_chunk: 16,
            mmap_after_bytes: 256,
            ..HeadOptions::default()
        };
        let head = Head::open(dir.path(), o.clone()).unwrap();
        let mem = MemStorage::new();
        let n_series = 5 + rng.below(30);
        let mut errors = 0;
        let mut t_now: i64 = 0;
        for _ in 0..60 {
            let mut happ = Appendable::appender(&head);
            let mut mapp = mem.appender();
            for _ in 0..rng.below(40) {
                let i = rng.below(n_series);
                let l = series_labels(i);
                // Mostly forward, sometimes back (out of order) or the same time.
                t_now += rng.below(3) as i64 * 1000;
                let t = match rng.below(10) {
                    0 => t_now - rng.below(5) as i64 * 1000,
                    _ => t_now,
                };
                let (hr, mr) = if is_histogram_series(i) {
                    let h = histogram(&mut rng, t);
                    (
                        happ.append_histogram(None, &l, t, &h),
                        mapp.append_histogram(None, &l, t, &h),
                    )
                } else {
                    let v = match rng.below(20) {
                        0 => stale_nan(),
                        1 => f64::NAN,
                        n => (t / 1000 + n as i64 % 3) as f64,
                    };
                    (happ.append(None, &l, t, v), mapp.append(None, &l, t, v))
                };
                assert_eq!(
                    hr.is_ok(),
                    mr.is_ok(),
                    "seed {seed}: {l} @ {t}: {hr:?} vs {mr:?}"
                );
                if let (Err(h), Err(m)) = (&hr, &mr) {
                    assert_eq!(h, m, "seed {seed}: {l} @ {t}");
                    errors += 1;
                }
            }
            if rng.chance(15) {
                happ.rollback().unwrap();
                mapp.rollback().unwrap();
            } else {
                happ.commit().unwrap();
                mapp.commit().unwrap();
            }
            if rng.chance(10) {
                head.mmap_head_chunks().unwrap();
            }
        }
        let compared = compare(&head, &mem, &mut rng, t_now, &format!("seed {seed}"));
        assert!(
            compared > 100 && errors > 5,
            "a weak workload: {compared} samples, {errors} errors"
        );
        head.close().unwrap();
        let head = Head::open(dir.path(), o).unwrap();
        assert!(head.replay_stats().wal_corruption.is_none());
        compare(
            &head,
            &mem,
            &mut rng,
            t_now,
            &format!("seed {seed} after replay"),
        );
    }
}
