#![allow(clippy::unwrap_used, clippy::expect_used)]
//! Crash safety: a child process (this test binary, re-executed) appends in a loop and
//! prints the timestamp of each batch once its commit returned; the parent SIGKILLs it at
//! random moments, reopens the head and checks that every printed batch is there.
//! The child also writes chunk files continually and truncates (checkpointing the WAL),
//! so kills land in those paths too.

use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use hearth_model::{Labels, MatchOp, Matcher};
use hearth_tsdb::head::{Head, HeadOptions};
use hearth_tsdb::storage::{Querier, ValueType};
use hearth_tsdb::wal::WalOptions;

const CHILD_ENV: &str = "HEARTH_HEAD_CRASH_CHILD";
const SERIES: usize = 20;

fn opts() -> HeadOptions {
    HeadOptions {
        stripe_bits: 4,
        samples_per_chunk: 30,
        mmap_after_bytes: 2048,
        wal: Some(WalOptions {
            segment_size: 64 * 1024,
            ..WalOptions::default()
        }),
        ..HeadOptions::default()
    }
}

fn series_labels(i: usize) -> Labels {
    Labels::new([("__name__", "crash"), ("i", &i.to_string())])
}

/// The child's body: runs only when re-executed by the parent.
#[test]
fn crash_child() {
    let Ok(dir) = std::env::var(CHILD_ENV) else {
        return;
    };
    let head = Head::open(Path::new(&dir), opts()).unwrap();
    let mut t = head.max_time().max(0) + 1000;
    let mut refs = vec![None; SERIES];
    let mut out = std::io::stdout().lock();
    for batch in 1u64.. {
        let mut app = head.appender();
        for (i, r) in refs.iter_mut().enumerate() {
            *r = Some(app.append(*r, &series_labels(i), t, t as f64).unwrap());
        }
        app.commit().unwrap();
        writeln!(out, "c {t}").unwrap();
        out.flush().unwrap();
        if batch % 250 == 0 {
            let mint = t - 100_000;
            writeln!(out, "t {mint}").unwrap();
            out.flush().unwrap();
            head.truncate(mint).unwrap();
        }
        t += 1000;
    }
}

/// Checks every series has every sample that must be there; returns whether replay
/// reported a torn WAL tail and a damaged chunk file.
fn verify(dir: &Path, committed: &[i64], truncated_to: i64, round: usize) -> (bool, bool) {
    let head = Head::open(dir, opts()).unwrap();
    let r = head.replay_stats();
    assert!(r.wal_corruption.is_none(), "round {round}: {r:?}");
    let q = head.querier(i64::MIN, i64::MAX);
    let set = q
        .select(
            true,
            None,
            &[Matcher::new(MatchOp::Equal, "__name__", "crash").unwrap()],
        )
        .unwrap();
    let must: Vec<i64> = committed
        .iter()
        .copied()
        .filter(|t| *t >= truncated_to)
        .collect();
    if !must.is_empty() {
        assert_eq!(set.series.len(), SERIES, "round {round}");
    }
    for s in &set.series {
        let mut it = s.iterator();
        let mut have = Vec::new();
        while it.next() == ValueType::Float {
            let (t, v) = it.at();
            assert_eq!(v, t as f64);
            have.push(t);
        }
        assert!(it.err().is_none(), "round {round}: {:?}", it.err());
        for t in &must {
            assert!(
                have.binary_search(t).is_ok(),
                "round {round}: {} lost committed sample {t} (replay: {r:?})",
                s.labels()
            );
        }
    }
    head.close().unwrap();
    (r.wal_torn_tail.is_some(), r.chunks_corruption.is_some())
}

#[test]
fn sigkill_never_loses_committed_samples() {
    let dir = tempfile::tempdir().unwrap();
    let exe = std::env::current_exe().unwrap();
    let mut committed: Vec<i64> = Vec::new();
    let mut truncated_to = i64::MIN;
    let mut seed: u64 = 0x2545_F491_4F6C_DD1D;
    let rounds = 30;
    let (mut torn, mut chunk_damage) = (0, 0);
    for round in 0..rounds {
        let mut child = Command::new(&exe)
            .args(["--exact", "crash_child", "--nocapture", "--test-threads=1"])
            .env(CHILD_ENV, dir.path())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let stdout = child.stdout.take().unwrap();
        let (tx, rx) = mpsc::channel::<String>();
        let reader = std::thread::spawn(move || {
            let mut r = BufReader::new(stdout);
            let mut line = String::new();
            // Only whole lines: a kill may cut the last one.
            while r.read_line(&mut line).unwrap_or(0) > 0 {
                if line.ends_with('\n') && tx.send(line.trim_end().to_string()).is_err() {
                    break;
                }
                line.clear();
            }
        });
        // Let it start (replay) and commit at least once, then kill at a random moment.
        let mut lines: Vec<String> = Vec::new();
        let deadline = Instant::now() + Duration::from_secs(120);
        while !lines.iter().any(|l| l.starts_with("c ")) && Instant::now() < deadline {
            if let Ok(l) = rx.recv_timeout(Duration::from_millis(100)) {
                lines.push(l);
            }
        }
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        let wait = Duration::from_millis(20 + seed % 400);
        let until = Instant::now() + wait;
        while Instant::now() < until {
            if let Some(status) = child.try_wait().unwrap() {
                let mut err = String::new();
                if let Some(mut e) = child.stderr.take() {
                    std::io::Read::read_to_string(&mut e, &mut err).unwrap();
                }
                panic!("round {round}: child exited by itself ({status}): {err}");
            }
            std::thread::sleep(Duration::from_millis(5));
        }
        child.kill().unwrap();
        child.wait().unwrap();
        reader.join().unwrap();
        lines.extend(rx.try_iter());
        let before = committed.len();
        for l in &lines {
            if let Some(t) = l.strip_prefix("c ") {
                committed.push(t.parse().unwrap());
            } else if let Some(t) = l.strip_prefix("t ") {
                truncated_to = truncated_to.max(t.parse().unwrap());
            }
        }
        assert!(
            committed.len() > before,
            "round {round}: child committed nothing"
        );
        let (t, c) = verify(dir.path(), &committed, truncated_to, round);
        torn += usize::from(t);
        chunk_damage += usize::from(c);
    }
    eprintln!(
        "crash test: {rounds} SIGKILLs, {} committed batches of {SERIES} samples checked; \
         replay cut {torn} torn WAL tail(s) and repaired {chunk_damage} chunk file(s)",
        committed.len()
    );
}
