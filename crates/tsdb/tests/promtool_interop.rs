//! Interop with real Prometheus tooling, when `promtool` is installed (Debian's
//! `prometheus` package): hearth reads blocks promtool writes, and promtool reads an index
//! and meta.json hearth writes. Skipped (with a note) when promtool is absent.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeSet;
use std::path::Path;
use std::process::Command;

use hearth_model::Labels;
use hearth_tsdb::block_meta::{BlockMeta, new_ulid, read_meta, write_meta};
use hearth_tsdb::index::{ChunkMeta, IndexReader, IndexWriter};
use hearth_tsdb::postings::{PostingsSource, collect};
use hearth_tsdb::tombstones::{MemTombstones, TombstoneReader, read_tombstones, write_tombstones};

fn promtool() -> Option<&'static str> {
    let ok = Command::new("promtool")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    if !ok {
        eprintln!("promtool not installed; skipping (apt-get install prometheus)");
    }
    ok.then_some("promtool")
}

/// Runs `promtool args... paths...`, asserting success; returns its stdout.
fn run(promtool: &str, args: &[&str], paths: &[&Path]) -> String {
    let out = Command::new(promtool)
        .args(args)
        .args(paths)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "promtool {args:?}: {stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
}

fn series_set() -> Vec<Labels> {
    let mut v: Vec<Labels> = (0..300)
        .map(|i| {
            Labels::new([
                ("__name__", format!("m{}_total", i % 3)),
                ("job", format!("job{}", i % 4)),
                ("instance", format!("host-{i}")),
            ])
        })
        .collect();
    v.sort();
    v
}

#[test]
fn hearth_reads_blocks_written_by_promtool() {
    let Some(promtool) = promtool() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let mut om = String::new();
    for m in 0..3 {
        om.push_str(&format!("# TYPE m{m} counter\n"));
        for l in series_set()
            .iter()
            .filter(|l| l.get("__name__") == Some(&format!("m{m}_total")))
        {
            for t in 0..3 {
                om.push_str(&format!(
                    "m{m}_total{{job=\"{}\",instance=\"{}\"}} {t} {}\n",
                    l.get("job").unwrap(),
                    l.get("instance").unwrap(),
                    1_700_000_000 + t * 60
                ));
            }
        }
    }
    om.push_str("# EOF\n");
    let input = dir.path().join("input.om");
    std::fs::write(&input, om).unwrap();
    let out = dir.path().join("data");
    run(
        promtool,
        &["tsdb", "create-blocks-from", "openmetrics"],
        &[&input, &out],
    );

    let mut seen = BTreeSet::new();
    let mut blocks = 0;
    for entry in std::fs::read_dir(&out).unwrap() {
        let block = entry.unwrap().path();
        if !block.join("meta.json").exists() {
            continue;
        }
        blocks += 1;
        let (meta, _) = read_meta(&block).unwrap();
        assert_eq!(
            meta.ulid.to_string(),
            block.file_name().unwrap().to_str().unwrap()
        );
        read_tombstones(&block).unwrap();
        let r = IndexReader::open(block.join("index")).unwrap();
        let summary = r.verify().unwrap();
        assert_eq!(summary.series as u64, meta.stats.num_series);
        assert_eq!(summary.chunks as u64, meta.stats.num_chunks);
        let mut chunks = Vec::new();
        for id in collect(&mut r.all_postings().unwrap()) {
            seen.insert(r.series(id, &mut chunks).unwrap());
            assert!(!chunks.is_empty());
        }
    }
    assert!(blocks >= 1);
    assert_eq!(seen, series_set().into_iter().collect());
}

const T0: i64 = 1_700_000_000_000;

/// A chunk segment file with one single-sample XOR chunk per series (hand-encoded: the
/// chunk formats are not this test's subject), returning each chunk's ref.
fn write_segment(path: &Path, n: usize) -> Vec<u64> {
    let mut seg = 0x85BD_40DDu32.to_be_bytes().to_vec();
    seg.extend_from_slice(&[1, 0, 0, 0]);
    let mut refs = Vec::new();
    for i in 0..n {
        refs.push(seg.len() as u64);
        // XOR chunk: sample count, first timestamp as a varint, value as raw float bits.
        let mut data = vec![0, 1];
        let mut zz = ((T0 + i as i64) << 1) as u64;
        while zz >= 0x80 {
            data.push(zz as u8 | 0x80);
            zz >>= 7;
        }
        data.push(zz as u8);
        data.extend_from_slice(&(i as f64).to_bits().to_be_bytes());
        seg.push(data.len() as u8);
        let start = seg.len();
        seg.push(1); // XOR encoding.
        seg.extend_from_slice(&data);
        let crc = crc32c::crc32c(&seg[start..]);
        seg.extend_from_slice(&crc.to_be_bytes());
    }
    std::fs::write(path, seg).unwrap();
    refs
}

/// A block directory with hearth's index, meta.json and tombstones.
fn write_hearth_block(db: &Path) -> String {
    let ulid = new_ulid();
    let block = db.join(ulid.to_string());
    std::fs::create_dir_all(block.join("chunks")).unwrap();
    let series = series_set();
    let refs = write_segment(&block.join("chunks/000001"), series.len());

    let mut syms = BTreeSet::new();
    for l in &series {
        for p in l {
            syms.insert(p.name.to_string());
            syms.insert(p.value.to_string());
        }
    }
    let mut w = IndexWriter::create(block.join("index")).unwrap();
    for s in &syms {
        w.add_symbol(s).unwrap();
    }
    for (i, l) in series.iter().enumerate() {
        let t = T0 + i as i64;
        let c = ChunkMeta {
            chunk_ref: refs[i],
            min_time: t,
            max_time: t,
        };
        w.add_series(l, &[c]).unwrap();
    }
    w.finish().unwrap();
    write_tombstones(&block, &MemTombstones::new()).unwrap();
    let mut meta = BlockMeta::new(ulid, T0, T0 + 7_200_000);
    meta.stats.num_series = series.len() as u64;
    meta.stats.num_chunks = series.len() as u64;
    meta.stats.num_samples = series.len() as u64;
    write_meta(&block, &mut meta).unwrap();
    assert_eq!(read_tombstones(&block).unwrap().0.total(), 0);
    ulid.to_string()
}

#[test]
fn promtool_reads_an_index_written_by_hearth() {
    let Some(promtool) = promtool() else {
        return;
    };
    let db = tempfile::tempdir().unwrap();
    let ulid = write_hearth_block(db.path());

    let text = run(promtool, &["tsdb", "list"], &[db.path()]);
    assert!(text.contains(&ulid), "{text}");

    let text = run(
        promtool,
        &["tsdb", "analyze", db.path().to_str().unwrap(), &ulid],
        &[],
    );
    // promtool reports the label pairs it found through our postings.
    assert!(text.contains("Label names: 3"), "{text}");
    assert!(text.contains("instance"), "{text}");
    assert!(
        text.contains("Postings (unique label pairs): 307"),
        "{text}"
    );

    // dump walks our postings, series and chunk metas down to the samples. It opens the
    // whole data directory, so it needs a (here empty) WAL directory.
    std::fs::create_dir_all(db.path().join("wal")).unwrap();
    let text = run(promtool, &["tsdb", "dump"], &[db.path()]);
    assert_eq!(text.lines().count(), 300, "{text}");
    assert!(
        text.contains(r#"{__name__="m0_total", instance="host-0", job="job0"} 0 1700000000000"#),
        "{text}"
    );
}
