//! The database end to end: samples appended through `Db`, synthetic time passing, the
//! head cut into blocks and compacted, retention, deletion, reopening after a close,
//! after a drop and from a copy of the directory taken while it was open (a crash), and
//! snapshots. promtool (Debian's `prometheus`) reads what the database wrote; skipped
//! loudly when not installed.
#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "support/programs.rs"]
mod programs;

use std::collections::BTreeMap;
use std::path::Path;
use std::time::{Duration, Instant};

use hearth_model::{Labels, MatchOp, Matcher, labels};
use hearth_tsdb::db::{Db, DbOptions};
use hearth_tsdb::storage::{Appendable, Queryable, ValueType};

use programs::{installed, promtool};

const H: i64 = 3_600_000;
const STEP: i64 = 15_000;

type Samples = BTreeMap<Labels, Vec<(i64, f64)>>;

fn opts(retention: i64, max_bytes: u64) -> DbOptions {
    let mut o = DbOptions::with_retention(retention, max_bytes);
    o.compaction_interval = None;
    o
}

fn series() -> Vec<Labels> {
    vec![
        labels! {"__name__" => "up", "job" => "a"},
        labels! {"__name__" => "up", "job" => "b"},
        labels! {"__name__" => "up", "job" => "c"},
        labels! {"__name__" => "reqs", "job" => "a", "code" => "200"},
    ]
}

fn value(i: usize, t: i64) -> f64 {
    (i as f64) * 1000.0 + (t / STEP) as f64
}

/// Appends every series at `from, from + STEP, … < to`, committing every `batch`
/// timestamps; records what was acknowledged in `want`.
fn append(db: &Db, from: i64, to: i64, want: &mut Samples) {
    let ls = series();
    let mut refs = vec![None; ls.len()];
    let mut t = from;
    while t < to {
        let mut app = db.appender();
        let mut pending = Vec::new();
        for _ in 0..40 {
            if t >= to {
                break;
            }
            for (i, l) in ls.iter().enumerate() {
                let v = value(i, t);
                refs[i] = Some(app.append(refs[i], l, t, v).unwrap());
                pending.push((l.clone(), t, v));
            }
            t += STEP;
        }
        app.commit().unwrap();
        for (l, t, v) in pending {
            want.entry(l).or_default().push((t, v));
        }
    }
}

fn dump(db: &Db, mint: i64, maxt: i64) -> Samples {
    let q = db.querier(mint, maxt).unwrap();
    let mut out = Samples::new();
    let all = Matcher::new(MatchOp::Regex, "__name__", ".+").unwrap();
    for s in q.select(true, None, &[all]).unwrap().series {
        let mut it = s.iterator();
        let mut v = Vec::new();
        while it.next() == ValueType::Float {
            v.push(it.at());
        }
        assert!(it.err().is_none(), "{:?}", it.err());
        if !v.is_empty() {
            out.insert(s.labels().clone(), v);
        }
    }
    out
}

fn assert_same(got: &Samples, want: &Samples) {
    assert_eq!(
        got.keys().collect::<Vec<_>>(),
        want.keys().collect::<Vec<_>>()
    );
    for (l, w) in want {
        let g = &got[l];
        assert_eq!(g.len(), w.len(), "{l}: sample count");
        assert!(g == w, "{l}: samples differ");
    }
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        let dest = to.join(e.file_name());
        if e.file_type().unwrap().is_dir() {
            copy_dir(&e.path(), &dest);
        } else {
            std::fs::copy(e.path(), dest).unwrap();
        }
    }
}

fn check_blocks(db: &Db) {
    let metas: Vec<_> = db.blocks().iter().map(|b| b.meta()).collect();
    for w in metas.windows(2) {
        assert!(
            w[0].max_time <= w[1].min_time,
            "blocks overlap: {:?} {:?}",
            (w[0].min_time, w[0].max_time),
            (w[1].min_time, w[1].max_time)
        );
    }
}

#[test]
fn head_is_cut_into_blocks_compacted_and_nothing_is_lost() {
    let dir = tempfile::tempdir().unwrap();
    let db = Db::open(dir.path(), opts(0, 0)).unwrap();
    let mut want = Samples::new();
    append(&db, 0, 10 * H, &mut want);
    assert!(db.head().compactable());
    assert!(db.blocks().is_empty());

    let created = db.compact().unwrap();
    assert!(!created.is_empty());
    // The head spanned 10h: 2h ranges are cut while it spans more than 3h, so the head
    // keeps [8h, 10h).
    assert_eq!(db.head().min_time(), 8 * H);
    assert!(!db.head().compactable());
    let blocks = db.blocks();
    assert!(blocks.iter().all(|b| b.max_time() <= 8 * H));
    assert_eq!(blocks.first().map(|b| b.min_time()), Some(0));
    assert_eq!(blocks.last().map(|b| b.max_time()), Some(8 * H));
    // Three 2h blocks made a 6h one; the newest 2h block waits for its range.
    assert!(
        blocks.iter().any(|b| b.meta().compaction.level >= 2),
        "{:?}",
        blocks.iter().map(|b| b.meta()).collect::<Vec<_>>()
    );
    check_blocks(&db);
    assert_same(&dump(&db, i64::MIN, i64::MAX), &want);
    // A querier over a slice sees only that slice, across block and head.
    let slice = dump(&db, 7 * H, 9 * H - 1);
    for (l, v) in &slice {
        let w: Vec<_> = want[l]
            .iter()
            .copied()
            .filter(|(t, _)| (7 * H..9 * H).contains(t))
            .collect();
        assert_eq!(v, &w);
    }
    // The WAL was checkpointed by the truncations.
    let wal: Vec<String> = std::fs::read_dir(dir.path().join("wal"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert!(wal.iter().any(|n| n.starts_with("checkpoint.")), "{wal:?}");

    // More time passes; the head is cut again and the next range compacted.
    append(&db, 10 * H, 14 * H, &mut want);
    db.compact().unwrap();
    assert_eq!(db.head().min_time(), 12 * H);
    check_blocks(&db);
    assert_same(&dump(&db, i64::MIN, i64::MAX), &want);
    let stats = db.stats();
    assert!(
        stats.head_blocks >= 6 && stats.compacted_blocks >= 1,
        "{stats:?}"
    );
    db.close().unwrap();

    let db = Db::open(dir.path(), opts(0, 0)).unwrap();
    assert_same(&dump(&db, i64::MIN, i64::MAX), &want);
    let st = db.wal_replay_status();
    assert!(
        st.min >= 0 && st.min <= st.max && st.current == st.max,
        "{st:?}"
    );
}

#[test]
fn background_thread_compacts_on_its_own() {
    let dir = tempfile::tempdir().unwrap();
    let mut o = opts(0, 0);
    o.compaction_interval = Some(Duration::from_millis(20));
    let db = Db::open(dir.path(), o).unwrap();
    let mut want = Samples::new();
    append(&db, 0, 6 * H, &mut want);
    // Not a timing assertion: the thread must get there eventually; the bound only
    // keeps a broken thread from hanging the test.
    let deadline = Instant::now() + Duration::from_secs(120);
    while db.blocks().is_empty() || db.head().compactable() {
        assert!(
            Instant::now() < deadline,
            "the background thread never cut the head: {:?}",
            db.stats()
        );
        std::thread::sleep(Duration::from_millis(10));
    }
    assert_same(&dump(&db, i64::MIN, i64::MAX), &want);
    db.close().unwrap();
    let db = Db::open(dir.path(), opts(0, 0)).unwrap();
    assert_same(&dump(&db, i64::MIN, i64::MAX), &want);
}

#[test]
fn committed_samples_survive_drop_and_crash_copies() {
    let dir = tempfile::tempdir().unwrap();
    let mut want = Samples::new();
    let crash = tempfile::tempdir().unwrap();
    {
        let db = Db::open(dir.path(), opts(0, 0)).unwrap();
        append(&db, 0, 5 * H, &mut want);
        db.compact().unwrap();
        append(&db, 5 * H, 6 * H, &mut want);
        // The files as a crash right now would leave them (page cache included: same
        // machine): no close, no sync beyond what commits did.
        copy_dir(dir.path(), &crash.path().join("a"));
        // Dropped without close.
    }
    let db = Db::open(dir.path(), opts(0, 0)).unwrap();
    assert_same(&dump(&db, i64::MIN, i64::MAX), &want);
    append(&db, 6 * H, 9 * H, &mut want);
    db.compact().unwrap();
    copy_dir(dir.path(), &crash.path().join("b"));
    drop(db);

    let a = Db::open(crash.path().join("a"), opts(0, 0)).unwrap();
    let want_a: Samples = want
        .iter()
        .map(|(l, v)| {
            (
                l.clone(),
                v.iter().copied().filter(|s| s.0 < 6 * H).collect(),
            )
        })
        .collect();
    assert_same(&dump(&a, i64::MIN, i64::MAX), &want_a);
    let b = Db::open(crash.path().join("b"), opts(0, 0)).unwrap();
    assert_same(&dump(&b, i64::MIN, i64::MAX), &want);
    // And the recovered database goes on working.
    append(&b, 9 * H, 12 * H, &mut want);
    b.compact().unwrap();
    assert_same(&dump(&b, i64::MIN, i64::MAX), &want);
}

#[test]
fn retention_by_time_deletes_old_blocks() {
    let dir = tempfile::tempdir().unwrap();
    let db = Db::open(dir.path(), opts(6 * H, 0)).unwrap();
    let mut want = Samples::new();
    append(&db, 0, 20 * H, &mut want);
    db.compact().unwrap();
    let blocks = db.blocks();
    let newest = blocks.iter().map(|b| b.max_time()).max().unwrap();
    assert!(blocks.iter().all(|b| newest - b.max_time() < 6 * H));
    let oldest = blocks.first().unwrap().min_time();
    assert!(oldest > 0, "nothing was deleted");
    // What is left is exactly the appended samples from the oldest block on.
    let want: Samples = want
        .into_iter()
        .map(|(l, v)| (l, v.into_iter().filter(|s| s.0 >= oldest).collect()))
        .collect();
    assert_same(&dump(&db, i64::MIN, i64::MAX), &want);
}

#[test]
fn retention_by_size_counts_head_files_and_deletes_oldest_blocks() {
    let dir = tempfile::tempdir().unwrap();
    let mut want = Samples::new();
    let (newest, second) = {
        let db = Db::open(dir.path(), opts(0, 0)).unwrap();
        append(&db, 0, 11 * H, &mut want);
        db.compact().unwrap();
        let mut blocks = db.blocks();
        assert!(blocks.len() >= 2);
        blocks.sort_by_key(|b| std::cmp::Reverse(b.max_time()));
        let r = (blocks[0].clone(), blocks[1].clone());
        db.close().unwrap();
        r
    };
    // Room for the head's files and the newest block, not the second newest.
    let head = ["wal", "chunks_head"]
        .iter()
        .map(|d| du(&dir.path().join(d)))
        .sum::<u64>();
    let limit = head + newest.size() + second.size() / 2;
    let db = Db::open(dir.path(), opts(0, limit)).unwrap();
    let left: Vec<_> = db.blocks().iter().map(|b| b.ulid()).collect();
    assert_eq!(left, vec![newest.ulid()]);
    assert!(!dir.path().join(second.ulid().to_string()).exists());
    // The head's data is untouched.
    let got = dump(&db, newest.min_time(), i64::MAX);
    let want: Samples = want
        .into_iter()
        .map(|(l, v)| {
            (
                l,
                v.into_iter().filter(|s| s.0 >= newest.min_time()).collect(),
            )
        })
        .collect();
    assert_same(&got, &want);
}

fn du(p: &Path) -> u64 {
    let Ok(rd) = std::fs::read_dir(p) else {
        return 0;
    };
    rd.flatten()
        .map(|e| {
            let m = e.metadata().unwrap();
            if m.is_dir() { du(&e.path()) } else { m.len() }
        })
        .sum()
}

#[test]
fn delete_reaches_blocks_and_head_survives_replay_and_cleaning() {
    let dir = tempfile::tempdir().unwrap();
    let mut want = Samples::new();
    {
        let db = Db::open(dir.path(), opts(0, 0)).unwrap();
        append(&db, 0, 7 * H, &mut want);
        db.compact().unwrap();
        assert_eq!(db.head().min_time(), 4 * H);
        // [3h, 5h] of job="a": half in a block, half in the head.
        let m = [Matcher::equal("job", "a")];
        db.delete(3 * H, 5 * H, &m).unwrap();
        assert!(db.head().num_tombstones() > 0);
        for v in want.iter_mut().filter(|(l, _)| l.get("job") == Some("a")) {
            v.1.retain(|s| !(3 * H..=5 * H).contains(&s.0));
        }
        assert_same(&dump(&db, i64::MIN, i64::MAX), &want);
        // Crash: the head's tombstones come back from the WAL.
    }
    let db = Db::open(dir.path(), opts(0, 0)).unwrap();
    assert!(db.head().num_tombstones() > 0);
    assert_same(&dump(&db, i64::MIN, i64::MAX), &want);
    // Cutting the head leaves the deleted samples out of the block.
    append(&db, 7 * H, 9 * H, &mut want);
    db.compact().unwrap();
    assert!(db.head().min_time() >= 6 * H);
    assert_eq!(db.head().num_tombstones(), 0);
    assert_same(&dump(&db, i64::MIN, i64::MAX), &want);
    // Block tombstones are rewritten away.
    use hearth_tsdb::tombstones::TombstoneReader;
    assert!(db.blocks().iter().any(|b| b.tombstones().total() > 0));
    db.clean_tombstones().unwrap();
    assert!(db.blocks().iter().all(|b| b.tombstones().total() == 0));
    assert_same(&dump(&db, i64::MIN, i64::MAX), &want);
    db.close().unwrap();
    let db = Db::open(dir.path(), opts(0, 0)).unwrap();
    assert_same(&dump(&db, i64::MIN, i64::MAX), &want);
}

#[test]
fn snapshot_with_head_opens_as_a_data_dir() {
    let dir = tempfile::tempdir().unwrap();
    let snap = tempfile::tempdir().unwrap();
    let db = Db::open(dir.path(), opts(0, 0)).unwrap();
    let mut want = Samples::new();
    append(&db, 0, 5 * H, &mut want);
    db.compact().unwrap();
    assert!(!db.blocks().is_empty());
    let to = snap.path().join("snap");
    db.snapshot(&to, true).unwrap();
    let s = Db::open(&to, opts(0, 0)).unwrap();
    assert_same(&dump(&s, i64::MIN, i64::MAX), &want);
    drop(s);
    // Without the head only the blocks.
    let to = snap.path().join("blocks-only");
    db.snapshot(&to, false).unwrap();
    let s = Db::open(&to, opts(0, 0)).unwrap();
    let max = db.blocks().last().unwrap().max_time();
    let want_blocks: Samples = want
        .iter()
        .map(|(l, v)| (l.clone(), v.iter().copied().filter(|s| s.0 < max).collect()))
        .collect();
    assert_same(&dump(&s, i64::MIN, i64::MAX), &want_blocks);
}

#[test]
fn out_of_order_samples_within_the_window_are_kept_through_compaction() {
    let dir = tempfile::tempdir().unwrap();
    let mut o = opts(0, 0);
    o.head.out_of_order_time_window = 4 * H;
    let db = Db::open(dir.path(), o.clone()).unwrap();
    let mut want = Samples::new();
    let l = labels! {"__name__" => "late", "job" => "x"};
    // Every other sample in order, then the ones in between, late.
    let mut app = db.appender();
    for t in (0..6 * H).step_by(2 * STEP as usize) {
        app.append(None, &l, t, t as f64).unwrap();
    }
    app.commit().unwrap();
    let mut app = db.appender();
    for t in ((3 * H + STEP)..6 * H).step_by(2 * STEP as usize) {
        app.append(None, &l, t, t as f64).unwrap();
    }
    app.commit().unwrap();
    let mut v: Vec<(i64, f64)> = (0..6 * H)
        .step_by(2 * STEP as usize)
        .chain(((3 * H + STEP)..6 * H).step_by(2 * STEP as usize))
        .map(|t| (t, t as f64))
        .collect();
    v.sort_by_key(|s| s.0);
    want.insert(l.clone(), v);
    assert_same(&dump(&db, i64::MIN, i64::MAX), &want);
    // Append more in order so that the head is cut past the late samples.
    append(&db, 6 * H, 9 * H, &mut want);
    db.compact().unwrap();
    assert!(db.head().min_time() >= 4 * H);
    assert_same(&dump(&db, i64::MIN, i64::MAX), &want);
    // Late samples behind the head's first range are cut on their own.
    assert_eq!(db.head().min_time(), 6 * H);
    let blocks_before = db.blocks().len();
    let mut app = db.appender();
    let late = 5 * H + 7;
    app.append(None, &l, late, 1.5).unwrap();
    app.commit().unwrap();
    want.get_mut(&l).unwrap().push((late, 1.5));
    want.get_mut(&l).unwrap().sort_by_key(|s| s.0);
    assert_same(&dump(&db, i64::MIN, i64::MAX), &want);
    db.compact().unwrap();
    assert_eq!(db.head().ooo_time_range(), (i64::MAX, i64::MIN));
    assert!(db.stats().head_blocks > blocks_before as u64);
    assert_same(&dump(&db, i64::MIN, i64::MAX), &want);
    db.close().unwrap();
    let db = Db::open(dir.path(), o).unwrap();
    assert_same(&dump(&db, i64::MIN, i64::MAX), &want);
}

#[test]
fn status_reports_head_cardinality() {
    let dir = tempfile::tempdir().unwrap();
    let db = Db::open(dir.path(), opts(0, 0)).unwrap();
    let mut want = Samples::new();
    append(&db, 0, H, &mut want);
    let st = db.tsdb_status(10);
    assert_eq!(st.head.num_series, 4);
    assert_eq!((st.head.min_time, st.head.max_time), (0, H - STEP));
    assert!(st.head.chunk_count >= 4);
    let by_name: Vec<_> = st
        .cardinality
        .series_count_by_metric_name
        .iter()
        .map(|n| (n.name.as_str(), n.count))
        .collect();
    assert_eq!(by_name, [("up", 3), ("reqs", 1)]);
    let values: BTreeMap<_, _> = st
        .cardinality
        .label_value_count_by_label_name
        .iter()
        .map(|n| (n.name.as_str(), n.count))
        .collect();
    assert_eq!(values["job"], 3);
    assert_eq!(values["__name__"], 2);
    assert_eq!(values["code"], 1);
    let pairs = &st.cardinality.series_count_by_label_value_pair;
    assert_eq!((pairs[0].name.as_str(), pairs[0].count), ("__name__=up", 3));
    // memoryInBytes: "up" three times and "reqs" once.
    let mem: BTreeMap<_, _> = st
        .cardinality
        .memory_in_bytes_by_label_name
        .iter()
        .map(|n| (n.name.as_str(), n.count))
        .collect();
    assert_eq!(mem["__name__"], 3 * 2 + 4);
    // Distinct pairs: __name__ ×2, job ×3, code ×1.
    assert_eq!(st.head.num_label_pairs, 6);
}

#[test]
fn closed_database_refuses_commits_and_reopens() {
    let dir = tempfile::tempdir().unwrap();
    let db = Db::open(dir.path(), opts(0, 0)).unwrap();
    let mut want = Samples::new();
    append(&db, 0, H, &mut want);
    assert_same(&dump(&db, i64::MIN, i64::MAX), &want);
    db.close().unwrap();
    let e = Db::open(dir.path(), opts(0, 0)).unwrap();
    assert_same(&dump(&e, i64::MIN, i64::MAX), &want);
}

#[test]
fn promtool_lists_and_dumps_a_db_directory() {
    if !installed("promtool") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let mut want = Samples::new();
    let blocks = {
        let db = Db::open(dir.path(), opts(0, 0)).unwrap();
        append(&db, 0, 9 * H, &mut want);
        db.compact().unwrap();
        let b: Vec<String> = db.blocks().iter().map(|b| b.ulid().to_string()).collect();
        db.close().unwrap();
        b
    };
    let p = dir.path().to_str().unwrap();
    let list = promtool(&["tsdb", "list", p]);
    for b in &blocks {
        assert!(list.contains(b.as_str()), "{b} missing from:\n{list}");
    }
    // promtool 2.42 dumps blocks and head (WAL replay included) through its own DB.
    let mut lines: Vec<String> = promtool(&["tsdb", "dump", p])
        .lines()
        .map(str::to_string)
        .collect();
    lines.sort();
    lines.dedup();
    let mut expected: Vec<String> = want
        .iter()
        .flat_map(|(l, v)| v.iter().map(move |(t, x)| format!("{l} {x} {t}")))
        .collect();
    expected.sort();
    assert_eq!(lines.len(), expected.len());
    assert!(lines == expected, "promtool dump differs");
}
