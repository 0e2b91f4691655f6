//! Persistent blocks end to end, without external programs: writing blocks with the
//! compactor, reading them back through the block and database queriers, vertical
//! compaction of overlapping blocks, tombstones, retention, snapshots and corrupted
//! blocks.
#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "support/synthetic.rs"]
mod synthetic;

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

use hearth_model::{HistogramValue, Labels, MatchOp, Matcher};
use hearth_tsdb::block::Block;
use hearth_tsdb::block_meta::{BlockMeta, read_meta};
use hearth_tsdb::compact::LeveledCompactor;
use hearth_tsdb::db::{Db, DbOptions};
use hearth_tsdb::mem_block_source::MemBlockSource;
use hearth_tsdb::mem_storage::{StoredSample, StoredValue};
use hearth_tsdb::storage::{Querier, Queryable, ValueType};
use hearth_tsdb::tombstones::TombstoneReader;

use synthetic::{Shape, generate, to_source};

const H: i64 = 3_600_000;

/// Every sample a querier returns, by series.
fn dump(q: &dyn Querier, matchers: &[Matcher]) -> BTreeMap<Labels, Vec<StoredSample>> {
    let mut out = BTreeMap::new();
    for s in q.select(true, None, matchers).unwrap().series {
        let mut it = s.iterator();
        let mut v = Vec::new();
        loop {
            let value = match it.next() {
                ValueType::None => break,
                ValueType::Float => StoredValue::Float(it.at().1),
                ValueType::Histogram => {
                    let mut h = it.at_histogram().1;
                    // Chunks turn the hint into NotCounterReset after a chunk's first
                    // sample; the generated data leaves it unknown.
                    h.counter_reset_hint = Default::default();
                    StoredValue::Histogram(HistogramValue::Integer(h))
                }
                ValueType::FloatHistogram => {
                    StoredValue::Histogram(HistogramValue::Float(it.at_float_histogram().1))
                }
            };
            v.push(StoredSample {
                t: it.at_t(),
                value,
                st: None,
            });
        }
        assert!(it.err().is_none(), "{:?}", it.err());
        drop(it);
        out.insert(s.labels().clone(), v);
    }
    out
}

/// Asserts equal sample maps, printing only the first difference.
#[track_caller]
fn assert_same(
    got: &BTreeMap<Labels, Vec<StoredSample>>,
    want: &BTreeMap<Labels, Vec<StoredSample>>,
) {
    let gk: Vec<&Labels> = got.keys().collect();
    let wk: Vec<&Labels> = want.keys().collect();
    assert_eq!(gk, wk, "series differ");
    for (l, w) in want {
        let g = &got[l];
        if let Some(i) = (0..g.len().max(w.len())).find(|&i| g.get(i) != w.get(i)) {
            panic!(
                "{l}: {} vs {} samples; first difference at {i}: got {:?}, want {:?}",
                g.len(),
                w.len(),
                g.get(i),
                w.get(i)
            );
        }
    }
}

fn expected(
    series: &[(Labels, Vec<StoredSample>)],
    keep: impl Fn(&Labels, i64) -> bool,
) -> BTreeMap<Labels, Vec<StoredSample>> {
    series
        .iter()
        .map(|(l, s)| {
            (
                l.clone(),
                s.iter()
                    .filter(|x| keep(l, x.t))
                    .cloned()
                    .collect::<Vec<_>>(),
            )
        })
        .filter(|(_, s)| !s.is_empty())
        .collect()
}

fn floats(l: &Labels, pts: &[(i64, f64)]) -> (Labels, Vec<StoredSample>) {
    (
        l.clone(),
        pts.iter()
            .map(|&(t, v)| StoredSample {
                t,
                value: StoredValue::Float(v),
                st: None,
            })
            .collect(),
    )
}

fn write_block(
    dir: &Path,
    series: &[(Labels, Vec<StoredSample>)],
    mint: i64,
    maxt: i64,
) -> BlockMeta {
    LeveledCompactor::new(vec![2 * H])
        .write(dir, &to_source(&series.to_vec()), mint, maxt, None)
        .unwrap()
        .unwrap()
}

fn shape(start: i64, samples: usize) -> Shape {
    Shape {
        instances: 4,
        start,
        samples,
        interval: 15_000,
        native_histograms: true,
    }
}

#[test]
fn written_block_reads_back_exactly() {
    let dir = tempfile::tempdir().unwrap();
    let data = generate(shape(0, 480), 1);
    let meta = write_block(dir.path(), &data, 0, 2 * H);
    let total: usize = data.iter().map(|(_, s)| s.len()).sum();
    assert_eq!(meta.stats.num_samples as usize, total);
    assert_eq!(meta.stats.num_series as usize, data.len());
    assert!(meta.stats.num_histogram_samples > 0);
    let (on_disk, _) = read_meta(&dir.path().join(meta.ulid.to_string())).unwrap();
    assert_eq!(on_disk, meta);

    let b = Block::open(dir.path().join(meta.ulid.to_string())).unwrap();
    assert_eq!(b.index().verify().unwrap().series, data.len());
    let q = b.querier(i64::MIN, i64::MAX);
    assert_same(&dump(&q, &[]), &expected(&data, |_, _| true));

    // A sub-range and a matcher.
    let q = b.querier(H / 2, H);
    let m = [Matcher::new(MatchOp::Regex, "__name__", "http_requests_total|node_load1").unwrap()];
    let want = expected(&data, |l, t| {
        (H / 2..=H).contains(&t)
            && matches!(
                l.get("__name__"),
                Some("http_requests_total" | "node_load1")
            )
    });
    assert_same(&dump(&q, &m), &want);
    assert_eq!(
        q.label_values("code", &m).unwrap(),
        ["200", "500"],
        "values of matching series"
    );
    assert!(q.label_names(&[]).unwrap().contains(&"le".to_string()));

    // Seek lands on the first sample at or after the time, never going back.
    let set = q.select(true, None, &m).unwrap();
    let mut it = set.series[0].iterator();
    assert_eq!(it.seek(H * 3 / 4), ValueType::Float);
    let t = it.at_t();
    assert!((H * 3 / 4..H * 3 / 4 + 15_010).contains(&t), "{t}");
    assert_eq!(it.seek(0), ValueType::Float);
    assert_eq!(it.at_t(), t);
}

#[test]
fn overlapping_blocks_compact_into_one_with_duplicates_dropped() {
    let dir = tempfile::tempdir().unwrap();
    let a = Labels::new([("__name__", "m"), ("i", "a")]);
    let b = Labels::new([("__name__", "m"), ("i", "b")]);
    // Block 1 has a:[0,10), block 2 overlaps it with the same samples and new ones.
    let s1 = vec![floats(
        &a,
        &(0..300).map(|i| (i * 10, i as f64)).collect::<Vec<_>>(),
    )];
    let s2 = vec![
        floats(
            &a,
            &(150..450).map(|i| (i * 10, i as f64)).collect::<Vec<_>>(),
        ),
        floats(&b, &[(5, 1.0)]),
    ];
    let m1 = write_block(dir.path(), &s1, 0, 3000);
    let m2 = write_block(dir.path(), &s2, 0, 4500);
    let db = Db::open(dir.path(), DbOptions::with_retention(0, 0)).unwrap();
    assert_eq!(db.blocks().len(), 2);
    // The merged querier already hides the overlap.
    let q = db.querier(i64::MIN, i64::MAX).unwrap();
    let got = dump(q.as_ref(), &[]);
    assert_eq!(got[&a].len(), 450);
    assert!(got[&a].windows(2).all(|w| w[0].t < w[1].t));

    let created = db.compact().unwrap();
    assert_eq!(created.len(), 1);
    let blocks = db.blocks();
    assert_eq!(blocks.len(), 1, "parents are deleted on reload");
    let meta = blocks[0].meta();
    assert_eq!(meta.compaction.level, 2);
    assert_eq!(meta.compaction.parents.len(), 2);
    assert_eq!((meta.min_time, meta.max_time), (0, 4500));
    assert_eq!(meta.stats.num_samples, 451);
    assert!(!dir.path().join(m1.ulid.to_string()).exists());
    assert!(!dir.path().join(m2.ulid.to_string()).exists());
    // Chunks no longer overlap; merged ones are re-encoded at most 120 samples each.
    let mut chunks = Vec::new();
    let ix = blocks[0].index();
    let id = {
        use hearth_tsdb::postings::PostingsSource;
        let mut p = ix.postings("i", &["a"]).unwrap();
        assert!(p.next());
        p.at()
    };
    ix.series(id, &mut chunks).unwrap();
    assert!(chunks.len() >= 4);
    assert!(chunks.windows(2).all(|w| w[0].max_time < w[1].min_time));
    let q = db.querier(i64::MIN, i64::MAX).unwrap();
    assert_same(&dump(q.as_ref(), &[]), &got);
}

#[test]
fn level_compaction_merges_2h_blocks_into_6h() {
    let dir = tempfile::tempdir().unwrap();
    let data = generate(shape(0, 8 * 240), 2);
    for w in 0..4 {
        let window: Vec<(Labels, Vec<StoredSample>)> = data
            .iter()
            .map(|(l, s)| {
                (
                    l.clone(),
                    s.iter()
                        .filter(|x| x.t >= w * 2 * H && x.t < (w + 1) * 2 * H)
                        .cloned()
                        .collect(),
                )
            })
            .collect();
        write_block(dir.path(), &window, w * 2 * H, (w + 1) * 2 * H);
    }
    let db = Db::open(dir.path(), DbOptions::default()).unwrap();
    let before = dump(db.querier(i64::MIN, i64::MAX).unwrap().as_ref(), &[]);
    db.compact().unwrap();
    let ranges: Vec<(i64, i64)> = db
        .blocks()
        .iter()
        .map(|b| (b.min_time(), b.max_time()))
        .collect();
    // The first three 2h blocks form a 6h block; the newest is left alone.
    assert_eq!(ranges, [(0, 6 * H), (6 * H, 8 * H)]);
    assert_same(
        &dump(db.querier(i64::MIN, i64::MAX).unwrap().as_ref(), &[]),
        &before,
    );
    assert_same(&before, &expected(&data, |_, _| true));
}

#[test]
fn delete_then_clean_tombstones() {
    let dir = tempfile::tempdir().unwrap();
    let data = generate(shape(0, 480), 3);
    write_block(dir.path(), &data, 0, 2 * H);
    let db = Db::open(dir.path(), DbOptions::with_retention(0, 0)).unwrap();
    let m = [Matcher::new(MatchOp::Equal, "job", "api").unwrap()];
    db.delete(H / 2, H, &m).unwrap();
    let old = db.blocks()[0].clone();
    assert!(old.tombstones().total() > 0);
    assert_eq!(old.meta().stats.num_tombstones, old.tombstones().total());
    let deleted = |l: &Labels, t: i64| !(l.get("job") == Some("api") && (H / 2..=H).contains(&t));
    let want = expected(&data, deleted);
    assert_same(
        &dump(db.querier(i64::MIN, i64::MAX).unwrap().as_ref(), &[]),
        &want,
    );

    // Tombstones survive a restart.
    drop(db);
    let db = Db::open(dir.path(), DbOptions::with_retention(0, 0)).unwrap();
    assert_same(
        &dump(db.querier(i64::MIN, i64::MAX).unwrap().as_ref(), &[]),
        &want,
    );

    db.clean_tombstones().unwrap();
    let blocks = db.blocks();
    assert_eq!(blocks.len(), 1);
    assert_ne!(blocks[0].ulid(), old.ulid());
    assert_eq!(blocks[0].tombstones().total(), 0);
    assert_eq!(blocks[0].meta().compaction.parents[0].ulid, old.ulid());
    assert!(!old.dir().exists());
    assert_same(
        &dump(db.querier(i64::MIN, i64::MAX).unwrap().as_ref(), &[]),
        &want,
    );
    // The old block's data stays readable through a querier opened before (mmap).
    assert_eq!(dump(&old.querier(0, 10), &[]).len(), data.len());
}

#[test]
fn deleting_everything_then_cleaning_leaves_no_block() {
    let dir = tempfile::tempdir().unwrap();
    let data = generate(shape(0, 100), 4);
    write_block(dir.path(), &data, 0, 2 * H);
    let db = Db::open(dir.path(), DbOptions::with_retention(0, 0)).unwrap();
    let all = [Matcher::new(MatchOp::Regex, "__name__", ".+").unwrap()];
    db.delete(i64::MIN, i64::MAX, &all).unwrap();
    assert!(dump(db.querier(i64::MIN, i64::MAX).unwrap().as_ref(), &[]).is_empty());
    db.clean_tombstones().unwrap();
    assert!(db.blocks().is_empty());
}

#[test]
fn retention_by_time_and_by_size() {
    let dir = tempfile::tempdir().unwrap();
    let a = Labels::new([("__name__", "m")]);
    for w in 0..5 {
        let pts: Vec<(i64, f64)> = (0..100).map(|i| (w * 2 * H + i * 1000, i as f64)).collect();
        write_block(dir.path(), &[floats(&a, &pts)], w * 2 * H, (w + 1) * 2 * H);
    }
    // Newest block ends at 10h: blocks ending 6h or more before that go.
    let db = Db::open(dir.path(), DbOptions::with_retention(6 * H, 0)).unwrap();
    let ranges: Vec<i64> = db.blocks().iter().map(|b| b.max_time()).collect();
    assert_eq!(ranges, [6 * H, 8 * H, 10 * H]);
    let one = db.blocks()[0].size();
    drop(db);

    // Room for the head's files plus two blocks: the oldest goes.
    std::fs::create_dir_all(dir.path().join("wal")).unwrap();
    std::fs::write(dir.path().join("wal/00000000"), vec![0u8; 1000]).unwrap();
    let db = Db::open(
        dir.path(),
        DbOptions::with_retention(0, 2 * one + 1000 + 10),
    )
    .unwrap();
    assert_eq!(db.head_size(), 1000);
    let ranges: Vec<i64> = db.blocks().iter().map(|b| b.max_time()).collect();
    assert_eq!(ranges, [8 * H, 10 * H]);
}

#[test]
fn snapshot_hard_links_blocks() {
    let dir = tempfile::tempdir().unwrap();
    let snap = tempfile::tempdir().unwrap();
    let data = generate(shape(0, 200), 5);
    let meta = write_block(dir.path(), &data, 0, 2 * H);
    let db = Db::open(dir.path(), DbOptions::with_retention(0, 0)).unwrap();
    db.snapshot(snap.path(), true).unwrap();
    assert!(db.snapshot(dir.path(), false).is_err());
    let copy = Block::open(snap.path().join(meta.ulid.to_string())).unwrap();
    assert_same(
        &dump(&copy.querier(i64::MIN, i64::MAX), &[]),
        &expected(&data, |_, _| true),
    );
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt;
        let md = std::fs::metadata(snap.path().join(meta.ulid.to_string()).join("index")).unwrap();
        assert_eq!(md.nlink(), 2, "index is a hard link");
    }
    // Deleting afterwards does not reach the snapshot.
    db.delete(
        i64::MIN,
        i64::MAX,
        &[Matcher::new(MatchOp::Regex, "job", ".+").unwrap()],
    )
    .unwrap();
    let copy = Block::open(snap.path().join(meta.ulid.to_string())).unwrap();
    assert_eq!(copy.tombstones().total(), 0);
}

#[test]
fn corrupted_blocks_are_reported_and_skipped() {
    let dir = tempfile::tempdir().unwrap();
    let a = Labels::new([("__name__", "m")]);
    let good = write_block(dir.path(), &[floats(&a, &[(1, 1.0)])], 0, 2 * H);
    let bad = write_block(dir.path(), &[floats(&a, &[(2 * H + 1, 2.0)])], 2 * H, 4 * H);
    let bad_meta = write_block(dir.path(), &[floats(&a, &[(4 * H + 1, 3.0)])], 4 * H, 6 * H);
    let index = dir.path().join(bad.ulid.to_string()).join("index");
    let mut bytes = std::fs::read(&index).unwrap();
    let n = bytes.len();
    bytes[n - 10] ^= 0xff; // The TOC checksum no longer matches.
    std::fs::write(&index, bytes).unwrap();
    std::fs::write(
        dir.path().join(bad_meta.ulid.to_string()).join("meta.json"),
        "{",
    )
    .unwrap();
    // Leftovers of an interrupted compaction are removed.
    let tmp = dir.path().join(format!("{}.tmp-for-creation", good.ulid));
    std::fs::create_dir_all(&tmp).unwrap();

    let db = Db::open(dir.path(), DbOptions::with_retention(0, 0)).unwrap();
    assert!(!tmp.exists());
    assert_eq!(db.blocks().len(), 1);
    let corrupted = db.corrupted_blocks();
    assert_eq!(corrupted.len(), 2);
    let msgs: Vec<&str> = corrupted.iter().map(|c| c.error.as_str()).collect();
    assert!(
        msgs.iter()
            .any(|m| m.contains("index") && m.contains("TOC")),
        "{msgs:?}"
    );
    assert!(msgs.iter().any(|m| m.contains("meta.json")), "{msgs:?}");
    let got = dump(db.querier(i64::MIN, i64::MAX).unwrap().as_ref(), &[]);
    assert_eq!(got[&a].len(), 1);
}

#[test]
fn a_bad_chunk_ends_the_iterator_with_an_error() {
    let dir = tempfile::tempdir().unwrap();
    let a = Labels::new([("__name__", "m")]);
    let meta = write_block(dir.path(), &[floats(&a, &[(1, 1.0), (2, 2.0)])], 0, 2 * H);
    let seg = dir.path().join(meta.ulid.to_string()).join("chunks/000001");
    let mut bytes = std::fs::read(&seg).unwrap();
    bytes[12] ^= 0x55;
    std::fs::write(&seg, bytes).unwrap();
    let b = Block::open(dir.path().join(meta.ulid.to_string())).unwrap();
    let q = b.querier(i64::MIN, i64::MAX);
    let set = q.select(true, None, &[]).unwrap();
    let mut it = set.series[0].iterator();
    assert_eq!(it.next(), ValueType::None);
    let e = it.err().unwrap().to_string();
    assert!(
        e.contains("checksum mismatch") && e.contains("000001"),
        "{e}"
    );
}

#[test]
fn mem_block_source_from_querier_round_trips() {
    let storage = hearth_tsdb::mem_storage::MemStorage::new();
    let a = Labels::new([("__name__", "up")]);
    for t in 0..500 {
        storage
            .append_with_st(&a, None, t * 15_000, StoredValue::Float(1.0))
            .unwrap();
    }
    let src =
        MemBlockSource::from_querier(storage.querier(i64::MIN, i64::MAX).unwrap().as_ref(), 2 * H)
            .unwrap();
    assert_eq!(src.num_samples(), 500);
    let dir = tempfile::tempdir().unwrap();
    let meta = LeveledCompactor::new(vec![2 * H])
        .write(dir.path(), &src, 0, 500 * 15_000, None)
        .unwrap()
        .unwrap();
    let b: Arc<Block> = Block::open(dir.path().join(meta.ulid.to_string())).unwrap();
    assert_eq!(dump(&b.querier(i64::MIN, i64::MAX), &[])[&a].len(), 500);
}
