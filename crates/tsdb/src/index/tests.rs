use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use hearth_model::{Labels, labels};

use super::*;
use crate::encoding::Encbuf;
use crate::postings::tests::{Rng, check_matchers_against_brute_force, synthetic_series};
use crate::postings::{PostingsSource, collect};

fn symbols_of(series: &[Labels]) -> BTreeSet<String> {
    series
        .iter()
        .flat_map(|l| {
            l.iter()
                .flat_map(|l| [l.name.to_string(), l.value.to_string()])
        })
        .collect()
}

/// Chunk metas for the `i`th series: 1-3 chunks, refs increasing across the index.
fn chunks_for(i: usize, next_ref: &mut u64) -> Vec<ChunkMeta> {
    let mut out = Vec::new();
    let mut t = (i as i64 % 13) * 1000 - 5000;
    for _ in 0..1 + i % 3 {
        let c = ChunkMeta {
            chunk_ref: *next_ref,
            min_time: t,
            max_time: t + 900 + i as i64 % 7,
        };
        *next_ref += 100 + (i as u64 % 5) * 1_000_000;
        t = c.max_time + 1 + i as i64 % 3;
        out.push(c);
    }
    out
}

/// Writes `series` (sorted) to `path`; returns (ref, labels, chunks) per series.
fn write_index(path: &Path, series: &[Labels]) -> Vec<(u64, Labels, Vec<ChunkMeta>)> {
    let mut w = IndexWriter::create(path).unwrap();
    for s in symbols_of(series) {
        w.add_symbol(&s).unwrap();
    }
    let mut next_ref = 8;
    let mut out = Vec::new();
    for (i, l) in series.iter().enumerate() {
        let chunks = chunks_for(i, &mut next_ref);
        let r = w.add_series(l, &chunks).unwrap();
        out.push((r, l.clone(), chunks));
    }
    w.finish().unwrap();
    out
}

#[test]
fn round_trip_thousands_of_series() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("index");
    let series = synthetic_series(3000);
    let written = write_index(&path, &series);
    assert!(!dir.path().join("index_tmp_p").exists());
    assert!(!dir.path().join("index_tmp_po").exists());

    let r = IndexReader::open(&path).unwrap();
    assert_eq!(r.version(), FORMAT_V2);
    let syms: Vec<&str> = r.symbols().map(|s| s.unwrap()).collect();
    let want_syms = symbols_of(&series);
    assert_eq!(
        syms,
        want_syms.iter().map(String::as_str).collect::<Vec<_>>()
    );
    for (i, s) in want_syms.iter().enumerate() {
        assert_eq!(r.symbol(i as u32).unwrap(), s);
        assert_eq!(r.symbol_ref(s).unwrap(), i as u32);
    }
    assert!(r.symbol_ref("not-a-symbol").is_err());

    // Label names and values.
    let mut by_pair: BTreeMap<(String, String), Vec<u64>> = BTreeMap::new();
    for (id, l, _) in &written {
        for p in l {
            by_pair
                .entry((p.name.to_string(), p.value.to_string()))
                .or_default()
                .push(*id);
        }
    }
    let names: BTreeSet<&str> = by_pair.keys().map(|(n, _)| n.as_str()).collect();
    assert_eq!(r.label_names(), names.iter().copied().collect::<Vec<_>>());
    for name in &names {
        let want: Vec<&str> = by_pair
            .keys()
            .filter(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
            .collect();
        assert_eq!(r.label_values(name).unwrap(), want, "{name}");
    }
    assert!(r.label_values("nope").unwrap().is_empty());

    // Postings for every pair, and multi-value lookups across sampling boundaries.
    for ((n, v), ids) in &by_pair {
        let got = collect(&mut r.postings(n, &[v]).unwrap());
        assert_eq!(&got, ids, "{n}={v}");
    }
    let values = r.label_values("series").unwrap();
    let mut rng = Rng::new(3);
    for _ in 0..200 {
        let mut pick: Vec<&str> = (0..rng.below(70))
            .map(|_| values[rng.below(values.len() as u64) as usize])
            .collect();
        pick.push("0000-unknown");
        pick.push("zzz-unknown");
        let mut want: Vec<u64> = pick
            .iter()
            .flat_map(|v| {
                by_pair
                    .get(&("series".into(), v.to_string()))
                    .cloned()
                    .unwrap_or_default()
            })
            .collect();
        want.sort_unstable();
        want.dedup();
        assert_eq!(collect(&mut r.postings("series", &pick).unwrap()), want);
    }
    let all: Vec<u64> = written.iter().map(|(id, _, _)| *id).collect();
    assert_eq!(collect(&mut r.all_postings().unwrap()), all);

    // Series by ref.
    let mut chunks = Vec::new();
    for (id, l, c) in &written {
        assert_eq!(&r.series(*id, &mut chunks).unwrap(), l);
        assert_eq!(&chunks, c);
    }
    let summary = r.verify().unwrap();
    assert_eq!(summary.series, series.len());
    assert_eq!(summary.postings_lists, by_pair.len());

    // Matchers against brute force, on the block index this time.
    let with_refs: Vec<(u64, Labels)> = written.into_iter().map(|(id, l, _)| (id, l)).collect();
    check_matchers_against_brute_force(&r, &with_refs);

    // Prefix scans see exactly the values with that prefix.
    let mut seen = Vec::new();
    r.visit_label_values("instance", "host-1", &mut |v| {
        seen.push(v.to_string());
        true
    })
    .unwrap();
    let want: Vec<String> = r
        .label_values("instance")
        .unwrap()
        .into_iter()
        .filter(|v| v.starts_with("host-1"))
        .map(String::from)
        .collect();
    assert_eq!(seen, want);
    assert_eq!(seen.len(), 11);
}

fn crc(b: &[u8]) -> [u8; 4] {
    crc32c::crc32c(b).to_be_bytes()
}

/// `{a="1"}` with one chunk and `{a="2", b="1"}` with two, laid out by hand from the spec.
fn golden_bytes() -> Vec<u8> {
    let mut f = vec![0xBA, 0xAA, 0xD7, 0x00, 0x02];
    // Symbol table at 5: "1" "2" "a" "b".
    let syms = [0, 0, 0, 4, 1, b'1', 1, b'2', 1, b'a', 1, b'b'];
    f.extend_from_slice(&[0, 0, 0, 12]);
    f.extend_from_slice(&syms);
    f.extend_from_slice(&crc(&syms));
    assert_eq!(f.len(), 25);
    // Series 1 at 32 (ref 2): labels a=1, chunk {ref 8, 0..100}.
    f.resize(32, 0);
    let s1 = [1, 2, 0, 1, 0, 100, 8];
    f.push(7);
    f.extend_from_slice(&s1);
    f.extend_from_slice(&crc(&s1));
    // Series 2 at 48 (ref 3): a=2 b=1, chunks {20, 0..50} {30, 60..70}.
    f.resize(48, 0);
    let s2 = [2, 2, 1, 3, 0, 2, 0, 50, 20, 10, 10, 20];
    f.push(12);
    f.extend_from_slice(&s2);
    f.extend_from_slice(&crc(&s2));
    assert_eq!(f.len(), 65);
    // Postings, 4-aligned at 68: all, a=1, a=2, b=1.
    f.resize(68, 0);
    for refs in [&[2u32, 3][..], &[2], &[3], &[3]] {
        let mut body = Vec::new();
        body.put_be32(refs.len() as u32);
        for &r in refs {
            body.put_be32(r);
        }
        f.put_be32(body.len() as u32);
        f.extend_from_slice(&body);
        f.extend_from_slice(&crc(&body));
    }
    assert_eq!(f.len(), 136);
    // Postings offset table at 136.
    let table = [
        0, 0, 0, 4, //
        2, 0, 0, 68, //
        2, 1, b'a', 1, b'1', 88, //
        2, 1, b'a', 1, b'2', 104, //
        2, 1, b'b', 1, b'1', 120,
    ];
    f.put_be32(table.len() as u32);
    f.extend_from_slice(&table);
    f.extend_from_slice(&crc(&table));
    assert_eq!(f.len(), 170);
    // TOC: no label indices, so those entries point at the postings and table.
    let mut toc = Vec::new();
    for off in [5u64, 25, 65, 136, 65, 136] {
        toc.put_be64(off);
    }
    f.extend_from_slice(&toc);
    f.extend_from_slice(&crc(&toc));
    f
}

#[test]
fn writer_output_matches_the_spec_byte_for_byte() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("index");
    let mut w = IndexWriter::create(&path).unwrap();
    for s in ["1", "2", "a", "b"] {
        w.add_symbol(s).unwrap();
    }
    let c = |r, a, b| ChunkMeta {
        chunk_ref: r,
        min_time: a,
        max_time: b,
    };
    assert_eq!(
        w.add_series(&labels!("a" => "1"), &[c(8, 0, 100)]).unwrap(),
        2
    );
    let two = [c(20, 0, 50), c(30, 60, 70)];
    assert_eq!(
        w.add_series(&labels!("a" => "2", "b" => "1"), &two)
            .unwrap(),
        3
    );
    assert_eq!(w.finish().unwrap(), 222);
    let got = std::fs::read(&path).unwrap();
    assert_eq!(got, golden_bytes());

    let r = IndexReader::from_bytes(got).unwrap();
    let toc = r.toc();
    assert_eq!(
        (toc.series, toc.postings, toc.postings_table),
        (25, 65, 136)
    );
    let mut chunks = Vec::new();
    assert_eq!(
        r.series(3, &mut chunks).unwrap(),
        labels!("a" => "2", "b" => "1")
    );
    assert_eq!(chunks, two);
    assert_eq!(
        collect(&mut r.postings("a", &["2", "1"]).unwrap()),
        vec![2, 3]
    );
}

#[test]
fn rewriting_an_index_leaves_hard_links_alone() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("index");
    write_index(&path, &synthetic_series(10));
    let snapshot = dir.path().join("snapshot-index");
    std::fs::hard_link(&path, &snapshot).unwrap();
    IndexWriter::create(&path).unwrap().finish().unwrap();
    assert_eq!(
        IndexReader::open(&snapshot)
            .unwrap()
            .verify()
            .unwrap()
            .series,
        10
    );
    assert_eq!(
        IndexReader::open(&path).unwrap().verify().unwrap().series,
        0
    );
}

#[test]
fn empty_index_is_valid() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("index");
    IndexWriter::create(&path).unwrap().finish().unwrap();
    let r = IndexReader::open(&path).unwrap();
    assert!(r.label_names().is_empty());
    assert_eq!(r.symbol_count(), 0);
    assert!(collect(&mut r.all_postings().unwrap()).is_empty());
    assert!(r.series(0, &mut Vec::new()).is_err());
    assert_eq!(r.verify().unwrap(), IndexSummary::default());
}

#[test]
fn writer_rejects_misuse() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("index");
    let mut w = IndexWriter::create(&path).unwrap();
    w.add_symbol("b").unwrap();
    assert!(
        w.add_symbol("a")
            .unwrap_err()
            .to_string()
            .contains("out-of-order")
    );
    w.add_symbol("c").unwrap();
    let c = |r, a, b| ChunkMeta {
        chunk_ref: r,
        min_time: a,
        max_time: b,
    };
    w.add_series(&labels!("b" => "c"), &[c(5, 0, 10)]).unwrap();
    let e = w.add_series(&labels!("b" => "b"), &[]).unwrap_err();
    assert!(e.to_string().contains("out-of-order series"), "{e}");
    let e = w.add_series(&labels!("c" => "x"), &[]).unwrap_err();
    assert!(e.to_string().contains("symbol entry for \"x\""), "{e}");
    let e = w
        .add_series(&labels!("c" => "c"), &[c(4, 0, 10)])
        .unwrap_err();
    assert!(e.to_string().contains("unsorted chunk reference"), "{e}");
    let e = w
        .add_series(&labels!("c" => "c"), &[c(6, 0, 10), c(7, 10, 20)])
        .unwrap_err();
    assert!(e.to_string().contains("not higher than previous"), "{e}");
    let e = w
        .add_series(&labels!("c" => "c"), &[c(6, 10, 9)])
        .unwrap_err();
    assert!(e.to_string().contains("less than minT"), "{e}");
    assert!(
        w.add_symbol("d")
            .unwrap_err()
            .to_string()
            .contains("invalid stage")
    );
    drop(w);
    assert!(
        !dir.path().join("index_tmp_p").exists(),
        "dropped writer cleans up"
    );
}

fn read_all(b: Vec<u8>) -> Result<IndexSummary, IndexError> {
    IndexReader::from_bytes(b)?.verify()
}

#[test]
fn corruption_names_the_section() {
    let good = golden_bytes();
    assert!(read_all(good.clone()).is_ok());
    let section_of = |b: Vec<u8>| read_all(b).unwrap_err().section();

    let mut b = good.clone();
    b[0] = 0;
    assert_eq!(section_of(b), Some(Section::Header));
    let mut b = good.clone();
    b[4] = 3;
    assert_eq!(section_of(b), Some(Section::Header));
    assert_eq!(section_of(good[..4].to_vec()), Some(Section::Header));
    assert_eq!(section_of(good[..40].to_vec()), Some(Section::Toc));
    assert_eq!(
        section_of(good[..good.len() - 1].to_vec()),
        Some(Section::Toc)
    );
    let mut b = good.clone();
    b[14] ^= 1; // A symbol byte.
    assert_eq!(section_of(b), Some(Section::Symbols));
    let mut b = good.clone();
    b[35] ^= 1; // Inside series 1.
    assert_eq!(section_of(b), Some(Section::Series));
    let mut b = good.clone();
    b[80] ^= 1; // Inside the all-postings list.
    assert_eq!(section_of(b), Some(Section::Postings));
    let mut b = good.clone();
    b[150] ^= 1; // Inside the postings offset table.
    assert_eq!(section_of(b), Some(Section::PostingsOffsetTable));

    let r = IndexReader::from_bytes(good).unwrap();
    let e = r.series(1_000_000, &mut Vec::new()).unwrap_err();
    assert_eq!(e.section(), Some(Section::Series));
    assert!(e.to_string().contains("<memory>"), "{e}");
    assert!(r.series(u64::MAX, &mut Vec::new()).is_err());
    assert!(r.series(4, &mut Vec::new()).is_err(), "ref between series");
    assert!(r.symbol(4).is_err());
}

#[test]
fn every_flipped_bit_or_truncation_is_an_error_or_harmless() {
    let good = golden_bytes();
    for i in 0..good.len() {
        for bit in [0x01u8, 0x80] {
            let mut b = good.clone();
            b[i] ^= bit;
            let _ = read_all(b);
        }
        let _ = read_all(good[..i].to_vec());
    }
}

#[test]
fn open_reports_io_errors_with_the_path() {
    let e = IndexReader::open("/nonexistent/dir/index").unwrap_err();
    assert!(e.to_string().contains("/nonexistent/dir/index"), "{e}");
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("index");
    std::fs::write(&path, [0xBA, 0xAA]).unwrap();
    let e = IndexReader::open(&path).unwrap_err();
    assert_eq!(e.section(), Some(Section::Header));
}

/// Builds a format v1 index by hand: symbol and series refs are file offsets, series are
/// not aligned and the postings offset table need not be sorted.
fn v1_bytes() -> (Vec<u8>, u64, u64) {
    let mut f = vec![0xBA, 0xAA, 0xD7, 0x00, 0x01];
    let mut body = vec![0, 0, 0, 3];
    let mut sym_off = BTreeMap::new();
    for s in ["a", "x", "y"] {
        sym_off.insert(s, (5 + 4 + body.len()) as u8);
        body.put_uvarint_str(s);
    }
    f.put_be32(body.len() as u32);
    f.extend_from_slice(&body);
    f.extend_from_slice(&crc(&body));
    let series_start = f.len() as u64;
    let mut series_refs = Vec::new();
    for v in ["x", "y"] {
        series_refs.push(f.len() as u64);
        let s = [1, sym_off["a"], sym_off[v], 1, 0, 10, 16];
        f.push(s.len() as u8);
        f.extend_from_slice(&s);
        f.extend_from_slice(&crc(&s));
    }
    let postings_start = f.len() as u64;
    let mut offs = Vec::new();
    for refs in [&series_refs[..], &series_refs[1..], &series_refs[..1]] {
        offs.push(f.len() as u64);
        let mut body = Vec::new();
        body.put_be32(refs.len() as u32);
        for &r in refs {
            body.put_be32(r as u32);
        }
        f.put_be32(body.len() as u32);
        f.extend_from_slice(&body);
        f.extend_from_slice(&crc(&body));
    }
    let table_start = f.len() as u64;
    let mut table = vec![0, 0, 0, 3];
    // Deliberately unsorted: a=y before a=x.
    for (n, v, o) in [("", "", offs[0]), ("a", "y", offs[1]), ("a", "x", offs[2])] {
        table.put_uvarint(2);
        table.put_uvarint_str(n);
        table.put_uvarint_str(v);
        table.put_uvarint(o);
    }
    f.put_be32(table.len() as u32);
    f.extend_from_slice(&table);
    f.extend_from_slice(&crc(&table));
    let mut toc = Vec::new();
    for off in [
        5,
        series_start,
        postings_start,
        table_start,
        postings_start,
        table_start,
    ] {
        toc.put_be64(off);
    }
    f.extend_from_slice(&toc);
    f.extend_from_slice(&crc(&toc));
    (f, series_refs[0], series_refs[1])
}

#[test]
fn reads_format_v1() {
    let (b, x_ref, y_ref) = v1_bytes();
    let r = IndexReader::from_bytes(b).unwrap();
    assert_eq!(r.version(), FORMAT_V1);
    assert_eq!(r.label_names(), vec!["a"]);
    assert_eq!(r.label_values("a").unwrap(), vec!["x", "y"]);
    assert_eq!(collect(&mut r.postings("a", &["y"]).unwrap()), vec![y_ref]);
    assert_eq!(collect(&mut r.all_postings().unwrap()), vec![x_ref, y_ref]);
    let mut chunks = Vec::new();
    assert_eq!(r.series(x_ref, &mut chunks).unwrap(), labels!("a" => "x"));
    assert_eq!(
        chunks,
        vec![ChunkMeta {
            chunk_ref: 16,
            min_time: 0,
            max_time: 10
        }]
    );
    assert_eq!(r.verify().unwrap().series, 2);
    let ms = [hearth_model::Matcher::new(hearth_model::MatchOp::Regex, "a", "x|z").unwrap()];
    let mut p = crate::postings::postings_for_matchers(&r, &ms).unwrap();
    assert_eq!(collect(&mut p), vec![x_ref]);
}

/// Writes seed inputs for the `index_read` fuzz target into `$FUZZ_SEEDS`:
/// `FUZZ_SEEDS=fuzz/corpus/index_read cargo test -p hearth-tsdb -- --ignored write_fuzz_seeds`
#[test]
#[ignore]
fn write_fuzz_seeds() {
    let Some(dir) = std::env::var_os("FUZZ_SEEDS") else {
        return;
    };
    let dir = Path::new(&dir);
    std::fs::create_dir_all(dir).unwrap();
    std::fs::write(dir.join("golden"), golden_bytes()).unwrap();
    std::fs::write(dir.join("v1"), v1_bytes().0).unwrap();
    write_index(&dir.join("synthetic"), &synthetic_series(40));
}

#[test]
fn reader_and_writer_can_cross_threads() {
    fn send_sync<T: Send + Sync>() {}
    fn send<T: Send>() {}
    send_sync::<IndexReader>();
    send::<IndexWriter>();
}
